/**
 * Argument checking for every public entry point, in one place. Each helper
 * returns the value it checked or throws DrmError EINVAL naming what was
 * wrong; none of them changes state, so a caller that checks everything
 * before acting leaves its state unchanged on bad input. Brand checks are
 * ones a Proxy cannot pass (private fields, `util.types`), since a Proxy of a
 * drmsim object would otherwise fail later with a TypeError.
 */
import { types } from 'node:util'
import { DrmError } from './errors.js'

/** 2^64 - 1. */
export const U64_MAX = (1n << 64n) - 1n

export const hex = (n: bigint | number): string => `0x${n.toString(16)}`

/** The EINVAL for `what`: `${what} must be ${expected}, got ${describe(value)}`. */
export function invalid(what: string, expected: string, value: unknown): DrmError {
  return new DrmError('EINVAL', `${what} must be ${expected}, got ${describe(value)}`)
}

/**
 * A short description of any value for an error message. Never throws and
 * never runs caller code that could (no toString, no Proxy traps).
 */
export function describe(value: unknown): string {
  try {
    switch (typeof value) {
      case 'bigint':
        return `${value}n`
      case 'string':
        return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)
      case 'number':
      case 'boolean':
        return `${typeof value} ${value}`
      case 'undefined':
        return 'undefined'
      case 'symbol':
        return `a symbol`
      case 'function':
        return 'a function'
    }
    if (value === null) return 'null'
    // Before anything that could reach a trap (Array.isArray throws on a revoked Proxy).
    if (types.isProxy(value)) return 'a Proxy'
    if (Array.isArray(value)) return 'an array'
    if (types.isTypedArray(value)) return `a ${Object.prototype.toString.call(value).slice(8, -1)}`
    const proto: unknown = Object.getPrototypeOf(value)
    if (proto === null || proto === Object.prototype) return 'an object'
    const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value
    const name = typeof ctor === 'function' ? Object.getOwnPropertyDescriptor(ctor, 'name')?.value : undefined
    return typeof name === 'string' && /^\w{1,40}$/.test(name) ? `a ${name}` : 'an object'
  } catch {
    return 'an unprintable value'
  }
}

/**
 * What to throw for an error raised while reading a caller's object `what`:
 * a DrmError from a check as it is; anything a getter or a revoked Proxy
 * threw as an EINVAL naming `what`, with that error as the cause.
 */
export function unreadable(err: unknown, what: string): DrmError {
  if (err instanceof DrmError) return err
  return new DrmError('EINVAL', `${what} could not be read: ${describe(err)} thrown`, { cause: err })
}

/** Reads a caller's object `what` through `read` (see `unreadable`). */
export function readArgument<T>(what: string, read: () => T): T {
  try {
    return read()
  } catch (err) {
    throw unreadable(err, what)
  }
}

/** A bigint in [0, 2^64). */
export function u64(value: unknown, what: string): bigint {
  if (typeof value !== 'bigint') throw invalid(what, 'a bigint', value)
  if (value < 0n || value > U64_MAX) throw invalid(what, 'in [0, 2^64)', value)
  return value
}

/** `u64`, or `fallback` when undefined. */
export const u64Or = (value: unknown, what: string, fallback: bigint): bigint =>
  value === undefined ? fallback : u64(value, what)

/** An integer number in [min, max] (safe integers only). */
export function integer(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(what, `an integer in [${min}, ${max}]`, value)
  }
  return value
}

/** A non-negative safe integer (counts, ids), at most `max`. */
export const count = (value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number =>
  integer(value, what, 0, max)

/** A finite number. */
export function finite(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(what, 'a finite number', value)
  return value
}

/** A boolean, or `fallback` when undefined. */
export function flag(value: unknown, what: string, fallback = false): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalid(what, 'a boolean', value)
  return value
}

/** A string. */
export function string(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(what, 'a string', value)
  return value
}

/** One of `names`. */
export function oneOf<T extends string>(value: unknown, names: readonly T[], what: string): T {
  if (typeof value !== 'string' || !names.includes(value as T)) {
    throw invalid(what, `one of ${names.map((n) => `'${n}'`).join(', ')}`, value)
  }
  return value as T
}

/** A function. */
export function func<T extends (...args: never[]) => unknown>(value: unknown, what: string): T {
  if (typeof value !== 'function') throw invalid(what, 'a function', value)
  return value as T
}

/**
 * An options object (not null, not an array; a Proxy of one is fine, as
 * reactive frameworks pass them). Undefined gives
 * `{}` when `optional`. The fields are then checked one by one.
 */
export function options<T extends object>(value: unknown, what: string, optional = false): Partial<T> {
  if (value === undefined && optional) return {}
  if (typeof value !== 'object' || value === null || isArray(value)) throw invalid(what, 'an object', value)
  return value as Partial<T>
}

/**
 * Array.isArray, with a revoked Proxy (on which it throws) refused as EINVAL. Only a Proxy can make
 * it throw, so no `types.isProxy` call (a crossing into C++) is needed first.
 */
function isArray(value: object): boolean {
  try {
    return Array.isArray(value)
  } catch {
    throw new DrmError('EINVAL', 'got a revoked Proxy')
  }
}

/** An object passing `is` (a brand check a Proxy fails). */
export function instance<T>(value: unknown, is: (v: unknown) => v is T, what: string, expected: string): T {
  if (!is(value)) throw invalid(what, expected, value)
  return value
}

/** An object or function: what `#x in v` may be asked of. */
export const isObject = (v: unknown): v is object => (typeof v === 'object' && v !== null) || typeof v === 'function'

/** An iterable (not a string), its elements copied into an array. */
export function list(value: unknown, what: string): unknown[] {
  if (typeof value !== 'object' || value === null) throw invalid(what, 'an iterable', value)
  if (isArray(value)) return Array.from(value as unknown[])
  return [...iterable(value, what)]
}

/** A Uint32Array (a Proxy of one fails). */
export function uint32Array(value: unknown, what: string): Uint32Array {
  if (!types.isUint32Array(value)) throw invalid(what, 'a Uint32Array', value)
  return value
}

/**
 * A brand check for a class whose private fields live in another file: calls
 * `cls`'s getter `getter` (one that reads a private field and cannot
 * otherwise throw) on the value, which throws for anything but a real
 * instance, a Proxy of one included. `cls` is a thunk so that modules in an
 * import cycle can make the check before the class is defined.
 */
export function brandCheck<T>(cls: () => abstract new (...args: never[]) => T, getter: string): (v: unknown) => v is T {
  let get: (() => unknown) | undefined
  return (v): v is T => {
    if (!isObject(v)) return false
    get ??= Object.getOwnPropertyDescriptor(cls().prototype, getter)!.get!
    try {
      get.call(v)
      return true
    } catch {
      return false
    }
  }
}

/** An iterable (not a string), left unread: it may be endless or lazy. */
export function iterable<T>(value: unknown, what: string): Iterable<T> {
  if (typeof value !== 'object' || value === null) throw invalid(what, 'an iterable', value)
  isArray(value) // refuses a revoked Proxy
  if (typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function')
    throw invalid(what, 'an iterable', value)
  return value as Iterable<T>
}
