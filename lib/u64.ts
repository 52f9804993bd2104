import { DrmError } from './errors.js'

/** 2^64 - 1. */
export const U64_MAX = (1n << 64n) - 1n

/** Checks that `value` is a bigint in [0, 2^64); EINVAL otherwise. */
export function u64(value: unknown, what: string): bigint {
  if (typeof value !== 'bigint') {
    throw new DrmError('EINVAL', `${what} must be a bigint, got ${describe(value)}`)
  }
  if (BigInt.asUintN(64, value) !== value) {
    throw new DrmError('EINVAL', `${what} must be in [0, 2^64), got ${value}`)
  }
  return value
}

/** Checks that `value` is a non-negative safe integer (counts, ids). */
export function count(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new DrmError('EINVAL', `${what} must be an integer in [0, ${max}], got ${describe(value)}`)
  }
  return value
}

export function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null) return 'null'
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object'
  return `${typeof value} ${String(value)}`
}

export const hex = (n: bigint | number): string => '0x' + n.toString(16)
