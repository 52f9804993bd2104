/**
 * Op lists in their packed form: `OP_WORDS` u64 words per op in one
 * `BigUint64Array`, as the native binding produces them (`OP_WORDS` in
 * native/napi/lib.rs). This file holds the one codec of that form, used by
 * both engines (the native one to read what the binding returns and to hand
 * it steps to apply, the reference one to pack its op lists) and by
 * `PackedOps`, the public raw op list.
 */
import type { MapRecord, OpRecord, VaRecord } from './engine.js'
import { DrmError } from './errors.js'
import type { GemObject } from './gem.js'
import type { GpuVm } from './gpuvm.js'
import { OpList, type Op, type OpCounts, type OpMap } from './ops.js'
import { describe } from './u64.js'
import { mintVa, type Va } from './va.js'

// ---- layout ----------------------------------------------------------------

/** Words per packed op. */
export const OP_WORDS = 14

/** Kind codes (bits 0-3 of word 0), in the order of `KINDS`. */
const KIND_MAP = 0
const KIND_REMAP = 1
const KIND_UNMAP = 2
const KIND_PREFETCH = 3
const KIND_MASK = 0xf
const KINDS: readonly Op['kind'][] = ['map', 'remap', 'unmap', 'prefetch']
/** Bits of word 0. */
const KEEP = 1 << 4
const HAS_PREV = 1 << 5
const HAS_NEXT = 1 << 6

/** Where things are within an op's words. */
const AT_HEAD = 0
const AT_SEQ = 1
/** The mapping a REMAP, UNMAP or PREFETCH names: addr, range, obj, offset. */
const AT_VA = 2
/** The new mapping of a MAP, or the `prev` piece of a REMAP. */
const AT_A = 6
/** The `next` piece of a REMAP. */
const AT_B = 10
/** Field offsets within a mapping's four words. */
const ADDR = 0
const RANGE = 1
const OBJ = 2
const OFFSET = 3
/** The words holding object ids. */
const OBJ_WORDS = [AT_VA + OBJ, AT_A + OBJ, AT_B + OBJ]

/** Which half of a u64 word holds its low 32 bits, in a Uint32Array over the same bytes. */
const LOW = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1

// ---- the codec -------------------------------------------------------------

function badKind(kind: number): DrmError {
  return new DrmError('EINVAL', `unknown packed op kind ${kind}`)
}

function decodeMap(w: BigUint64Array, at: number): MapRecord {
  return { addr: w[at + ADDR], range: w[at + RANGE], obj: Number(w[at + OBJ]), offset: w[at + OFFSET] }
}

function decodeVa(w: BigUint64Array, at: number, flags: number): VaRecord {
  const v = at + AT_VA
  return {
    addr: w[v + ADDR],
    range: w[v + RANGE],
    obj: Number(w[v + OBJ]),
    offset: w[v + OFFSET],
    seq: Number(w[at + AT_SEQ]),
    flags,
  }
}

/** Decodes the op whose words start at `at`. EINVAL for an unknown kind. */
export function decodeOp(w: BigUint64Array, at: number): OpRecord {
  const head = w[at + AT_HEAD]
  const bits = Number(head & 0xffffffffn)
  const flags = Number(head >> 32n)
  const keep = (bits & KEEP) !== 0
  switch (bits & KIND_MASK) {
    case KIND_MAP:
      return { kind: 'map', map: decodeMap(w, at + AT_A) }
    case KIND_REMAP:
      return {
        kind: 'remap',
        prev: (bits & HAS_PREV) !== 0 ? decodeMap(w, at + AT_A) : null,
        next: (bits & HAS_NEXT) !== 0 ? decodeMap(w, at + AT_B) : null,
        va: decodeVa(w, at, flags),
        keep,
      }
    case KIND_UNMAP:
      return { kind: 'unmap', va: decodeVa(w, at, flags), keep }
    case KIND_PREFETCH:
      return { kind: 'prefetch', va: decodeVa(w, at, flags) }
    default:
      throw badKind(bits & KIND_MASK)
  }
}

/** Decodes every op of a packed list. */
export function decodeOps(w: BigUint64Array): OpRecord[] {
  const ops: OpRecord[] = []
  for (let at = 0; at + OP_WORDS <= w.length; at += OP_WORDS) ops.push(decodeOp(w, at))
  return ops
}

function encodeMap(w: BigUint64Array, at: number, m: MapRecord): void {
  w[at + ADDR] = m.addr
  w[at + RANGE] = m.range
  w[at + OBJ] = BigInt(m.obj)
  w[at + OFFSET] = m.offset
}

/** Writes the mapping a step names; returns its flags, for the high half of word 0. */
function encodeVa(w: BigUint64Array, at: number, va: VaRecord): bigint {
  w[at + AT_SEQ] = BigInt(va.seq)
  encodeMap(w, at + AT_VA, va)
  return BigInt(va.flags >>> 0) << 32n
}

/** Writes `op` into the `OP_WORDS` words of `w` from `at` (the unused ones become 0). */
export function encodeOp(op: OpRecord, w: BigUint64Array, at: number): void {
  w.fill(0n, at, at + OP_WORDS)
  let bits: number
  let flags = 0n
  switch (op.kind) {
    case 'map':
      bits = KIND_MAP
      encodeMap(w, at + AT_A, op.map)
      break
    case 'remap':
      bits = KIND_REMAP | (op.keep ? KEEP : 0)
      flags = encodeVa(w, at, op.va)
      if (op.prev !== null) {
        bits |= HAS_PREV
        encodeMap(w, at + AT_A, op.prev)
      }
      if (op.next !== null) {
        bits |= HAS_NEXT
        encodeMap(w, at + AT_B, op.next)
      }
      break
    case 'unmap':
      bits = KIND_UNMAP | (op.keep ? KEEP : 0)
      flags = encodeVa(w, at, op.va)
      break
    case 'prefetch':
      bits = KIND_PREFETCH
      flags = encodeVa(w, at, op.va)
      break
  }
  w[at + AT_HEAD] = flags | BigInt(bits)
}

/** Packs a list of ops. */
export function encodeOps(ops: readonly OpRecord[]): BigUint64Array {
  const w = new BigUint64Array(ops.length * OP_WORDS)
  ops.forEach((op, i) => encodeOp(op, w, i * OP_WORDS))
  return w
}

// ---- records to handles ----------------------------------------------------

/** @internal Resolves a GEM object id of a record (0: none). */
export type ObjectLookup = (id: number) => GemObject | null

function opMap(m: MapRecord, object: ObjectLookup): OpMap {
  return { addr: m.addr, range: m.range, obj: object(m.obj), offset: m.offset }
}

function vaHandle(vm: GpuVm, rec: VaRecord, object: ObjectLookup): Va {
  return mintVa(vm, rec.addr, rec.range, object(rec.obj), rec.offset, rec.seq)
}

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
      throw new DrmError('EINVAL', `packed ops must be a BigUint64Array of ${OP_WORDS} words per op, got ${describe(words)}`)
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
      this.#at(0, true)
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
  #at(i: number, any = false): number {
    if (!any && (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.length)) {
      throw new DrmError('EINVAL', `op index must be an integer in [0, ${this.length}), got ${describe(i)}`)
    }
    // A transferred (detached) buffer leaves a typed array of length 0.
    if (this.#words.length !== this.length * OP_WORDS) {
      throw new DrmError('EINVAL', `the words of this ${this} were transferred away`)
    }
    return i * OP_WORDS
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
