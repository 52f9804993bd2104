/**
 * `PackedOps`, the public op list in packed form (the codec of the form:
 * lib/contract/wire.ts), and the step from engine records to the public
 * `Op`s with their `Va` and `GemObject` handles.
 */
import type { MapRecord, OpRecord, VaRecord } from '../contract/vm.js'
import {
  ADDR,
  AT_A,
  AT_B,
  AT_HEAD,
  AT_VA,
  badKind,
  decodeMap,
  decodeOp,
  decodeVa,
  HAS_NEXT,
  HAS_PREV,
  KEEP,
  KIND_MAP,
  KIND_MASK,
  KIND_REMAP,
  KINDS,
  LOW,
  OBJ,
  OBJ_WORDS,
  OFFSET,
  OP_WORDS,
  RANGE,
} from '../contract/wire.js'
import { DrmError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from './gpuvm.js'
import { OpList, type Op, type OpCounts, type OpMap } from './ops.js'
import { describe } from '../base/check.js'
import type { ObjectLookup } from './objects.js'
import { mintVa, type Va } from './va.js'

// ---- records to handles ----------------------------------------------------

function opMap(m: MapRecord, object: ObjectLookup): OpMap {
  return { addr: m.addr, range: m.range, obj: object(m.obj), offset: m.offset }
}

function vaHandle(vm: GpuVm, rec: VaRecord, object: ObjectLookup): Va {
  const va = mintVa(vm, rec.addr, rec.range, object(rec.obj), rec.offset, rec.seq)
  if (rec.flags !== 0) stepFlags.set(va, rec.flags)
  return va
}

/** The flags word a step's mapping had when the step was made, kept only when not 0 (a Va carries none): for `undo`. */
const stepFlags = new WeakMap<Va, number>()

/** @internal The flags word of the mapping a step names, as it was when the step was made (0 if unknown). */
export const flagsAtStep = (va: Va): number => stepFlags.get(va) ?? 0

/** @internal The public `Op` of an engine record: `Va` and `GemObject` handles instead of ids. */
export function opFromRecord(rec: OpRecord, vm: GpuVm, object: ObjectLookup): Op {
  switch (rec.kind) {
    case 'map':
      return { kind: 'map', map: opMap(rec.map, object) }
    case 'remap':
      return {
        kind: 'remap',
        prev: rec.prev && opMap(rec.prev, object),
        next: rec.next && opMap(rec.next, object),
        unmap: { va: vaHandle(vm, rec.va, object), keep: rec.keep },
      }
    case 'unmap':
      return { kind: 'unmap', va: vaHandle(vm, rec.va, object), keep: rec.keep }
    case 'prefetch':
      return { kind: 'prefetch', va: vaHandle(vm, rec.va, object) }
  }
}

// ---- the public raw op list --------------------------------------------------

/**
 * An op list in packed form, as `GpuVm.smMapOpsPacked` and its siblings
 * return it: the same steps as the `OpList` of `smMapOps`, in one
 * `BigUint64Array` instead of one object per op. Read fields with the
 * accessors (`kind(i)`, `addr(i)`, ...), which build no op object, decode one
 * op with `op(i)`, or all of them with `for...of` or `toOpList()`.
 *
 * Layout of `words`: op `i` is `words[14 * i .. 14 * i + 14)`, u64 each:
 *
 * | word  | holds |
 * | ----- | ----- |
 * | 0     | bits 0-3: kind (0 map, 1 remap, 2 unmap, 3 prefetch); bit 4: keep; bit 5: has prev; bit 6: has next; bits 32-63: the flags of the mapping the op names (bit 0: invalidated) |
 * | 1     | seq of the mapping the op names |
 * | 2-5   | the mapping a remap, unmap or prefetch names: addr, range, obj, offset |
 * | 6-9   | the new mapping of a map, or the `prev` piece of a remap: addr, range, obj, offset |
 * | 10-13 | the `next` piece of a remap: addr, range, obj, offset |
 *
 * `obj` is a GEM object id, 0 for none. Words an op does not use are 0 (a
 * map's words 1-5, a remap without `prev`'s words 6-9, ...). The layout
 * constants are the static members (`PackedOps.WORDS`, `PackedOps.KEEP`, ...).
 *
 * Indices must be integers in `[0, length)`; anything else is an EINVAL
 * `DrmError`. `words` is the list's own storage, made for it on first read
 * (the engines may pack lists into shared memory, which no caller sees):
 * writing to it changes what the accessors read and nothing else, and once
 * its buffer is transferred away the accessors throw EINVAL.
 */
export class PackedOps implements Iterable<Op> {
  /** Words per op. */
  static readonly WORDS = OP_WORDS
  /** The kind names by code (bits 0-3 of word 0). */
  static readonly KINDS: readonly Op['kind'][] = KINDS
  /** Word 0: keep (remap, unmap). */
  static readonly KEEP = KEEP
  /** Word 0: a remap has a `prev` piece (words 6-9). */
  static readonly HAS_PREV = HAS_PREV
  /** Word 0: a remap has a `next` piece (words 10-13). */
  static readonly HAS_NEXT = HAS_NEXT

  /** Ops in the list. */
  readonly length: number
  readonly #vm: GpuVm
  #words: BigUint64Array
  /** The same bytes as 32-bit halves: kinds, bits, ids and flags read without a BigInt. */
  #halves: Uint32Array
  /** `#words` is this list's alone (it may start as a slice of memory shared with other lists). */
  #own = false
  /** The objects the ops name, resolved when the list is made (as an OpList resolves them). */
  readonly #objects = new Map<number, GemObject>()
  readonly #lookup: ObjectLookup = (id) => {
    if (id === 0) return null
    const obj = this.#objects.get(id)
    if (obj === undefined) throw new DrmError('EINVAL', `GEM object ${id} is unknown to this op list`)
    return obj
  }

  /** @internal Made by GpuVm: `object` resolves the ids the ops name, which is done here, once. */
  constructor(vm: GpuVm, words: BigUint64Array, object: ObjectLookup) {
    if (!(words instanceof BigUint64Array) || words.length % OP_WORDS !== 0) {
      throw new DrmError(
        'EINVAL',
        `packed ops must be a BigUint64Array of ${OP_WORDS} words per op, got ${describe(words)}`,
      )
    }
    this.#vm = vm
    this.#words = words
    this.#halves = new Uint32Array(words.buffer, words.byteOffset, words.length * 2)
    this.length = words.length / OP_WORDS
    for (let at = 0; at < words.length; at += OP_WORDS) {
      for (const field of OBJ_WORDS) {
        const id = this.#low(at + field)
        if (id !== 0 && !this.#objects.has(id)) {
          const obj = object(id)
          if (obj !== null) this.#objects.set(id, obj)
        }
      }
    }
  }

  /** The packed words (the list's own storage; layout in the class comment). */
  get words(): BigUint64Array {
    if (!this.#own) {
      this.#present()
      const words = new BigUint64Array(this.#words)
      this.#words = words
      this.#halves = new Uint32Array(words.buffer)
      this.#own = true
    }
    return this.#words
  }

  /** The step's kind. */
  kind(i: number): Op['kind'] {
    const code = this.#bits(this.#at(i)) & KIND_MASK
    const kind = KINDS[code]
    if (kind === undefined) throw badKind(code)
    return kind
  }

  /** A remap's or unmap's `keep`; false for a map or prefetch. */
  keep(i: number): boolean {
    return (this.#bits(this.#at(i)) & KEEP) !== 0
  }

  /** Start of the mapping the step creates (map) or names (remap, unmap, prefetch). */
  addr(i: number): bigint {
    return this.#words[this.#target(i) + ADDR]
  }

  /** Range of that mapping (see `addr`). */
  range(i: number): bigint {
    return this.#words[this.#target(i) + RANGE]
  }

  /** Object offset of that mapping (see `addr`). */
  offset(i: number): bigint {
    return this.#words[this.#target(i) + OFFSET]
  }

  /** Object of that mapping (see `addr`); null for a sparse mapping. */
  obj(i: number): GemObject | null {
    return this.#lookup(this.#low(this.#target(i) + OBJ))
  }

  /** The mapping a remap, unmap or prefetch names; null for a map. */
  va(i: number): Va | null {
    const at = this.#at(i)
    if ((this.#bits(at) & KIND_MASK) === KIND_MAP) return null
    return vaHandle(this.#vm, decodeVa(this.#words, at, this.#high(at)), this.#lookup)
  }

  /** A remap's `prev` piece; null when it has none or is no remap. */
  prev(i: number): OpMap | null {
    const at = this.#at(i)
    const bits = this.#bits(at)
    if ((bits & KIND_MASK) !== KIND_REMAP || (bits & HAS_PREV) === 0) return null
    return opMap(decodeMap(this.#words, at + AT_A), this.#lookup)
  }

  /** A remap's `next` piece; null when it has none or is no remap. */
  next(i: number): OpMap | null {
    const at = this.#at(i)
    const bits = this.#bits(at)
    if ((bits & KIND_MASK) !== KIND_REMAP || (bits & HAS_NEXT) === 0) return null
    return opMap(decodeMap(this.#words, at + AT_B), this.#lookup)
  }

  /** Op `i`, decoded (as the OpList of the same request has it). */
  op(i: number): Op {
    return opFromRecord(decodeOp(this.#words, this.#at(i)), this.#vm, this.#lookup)
  }

  /** Steps of each kind. */
  counts(): OpCounts {
    const c: OpCounts = { map: 0, remap: 0, unmap: 0, prefetch: 0 }
    for (let i = 0; i < this.length; i++) c[this.kind(i)]++
    return c
  }

  *[Symbol.iterator](): Iterator<Op> {
    for (let i = 0; i < this.length; i++) yield this.op(i)
  }

  /** Every op decoded, as an OpList. */
  toOpList(): OpList {
    return new OpList(Array.from(this))
  }

  toString(): string {
    return `PackedOps (${this.length} ops)`
  }

  /** The first word of op `i`; EINVAL for an index that is not one, or once `words` was transferred away. */
  #at(i: number): number {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new DrmError('EINVAL', `op index must be an integer in [0, ${this.length}), got ${describe(i)}`)
    }
    this.#present()
    return i * OP_WORDS
  }

  /** EINVAL once `words` was transferred away (a detached buffer leaves a typed array of length 0). */
  #present(): void {
    if (this.#words.length !== this.length * OP_WORDS) {
      throw new DrmError('EINVAL', `the words of this ${this} were transferred away`)
    }
  }

  /** The first word of the mapping op `i` creates or names. */
  #target(i: number): number {
    const at = this.#at(i)
    return at + ((this.#bits(at) & KIND_MASK) === KIND_MAP ? AT_A : AT_VA)
  }

  #bits(at: number): number {
    return this.#low(at + AT_HEAD)
  }

  #low(word: number): number {
    return this.#halves[2 * word + LOW]
  }

  #high(word: number): number {
    return this.#halves[2 * word + 1 - LOW]
  }
}
