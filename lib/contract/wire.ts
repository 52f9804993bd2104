/**
 * The packed form of op lists: `OP_WORDS` u64 words per op in one
 * `BigUint64Array`, as the native binding produces them and the reference
 * engine packs them. This file holds the one codec of that form, between
 * engine records and words: the native engine decodes what the binding
 * returns and encodes the steps it hands it to apply; the reference engine
 * packs its op lists; `PackedOps` (lib/gpuvm/packed-ops.ts) reads fields
 * straight from the words.
 */
import { DrmError } from '../base/errors.js'
import type { MapRecord, OpRecord, VaRecord } from './vm.js'

// ---- layout ----------------------------------------------------------------

// Defined once, in native/core/src/wire.rs, and generated into wire.gen.ts;
// named here as plain constants (a re-export would compile to a getter), from
// the const enum, whose values tsc writes in.
import { Wire } from './wire.gen.js'

/** Words per packed op. */
export const OP_WORDS: number = Wire.OP_WORDS
/** Kind codes (bits 0-3 of word 0), in the order of `KINDS`. */
export const KIND_MAP: number = Wire.OP_KIND_MAP
export const KIND_REMAP: number = Wire.OP_KIND_REMAP
export const KIND_UNMAP: number = Wire.OP_KIND_UNMAP
export const KIND_PREFETCH: number = Wire.OP_KIND_PREFETCH
export const KIND_MASK: number = Wire.OP_KIND_MASK
/** Bits of word 0. */
export const KEEP: number = Wire.OP_KEEP
export const HAS_PREV: number = Wire.OP_HAS_PREV
export const HAS_NEXT: number = Wire.OP_HAS_NEXT
/** Where things are within an op's words. */
export const AT_HEAD: number = Wire.OP_AT_HEAD
export const AT_SEQ: number = Wire.OP_AT_SEQ
/** The mapping a REMAP, UNMAP or PREFETCH names: addr, range, obj, offset. */
export const AT_VA: number = Wire.OP_AT_VA
/** The new mapping of a MAP, or the `prev` piece of a REMAP. */
export const AT_A: number = Wire.OP_AT_A
/** The `next` piece of a REMAP. */
export const AT_B: number = Wire.OP_AT_B
/** Field offsets within a mapping's four words. */
export const ADDR: number = Wire.OP_ADDR
export const RANGE: number = Wire.OP_RANGE
export const OBJ: number = Wire.OP_OBJ
export const OFFSET: number = Wire.OP_OFFSET
export const KINDS: readonly OpRecord['kind'][] = ['map', 'remap', 'unmap', 'prefetch']
/** The words holding object ids. */
export const OBJ_WORDS = [AT_VA + OBJ, AT_A + OBJ, AT_B + OBJ]

/** Which half of a u64 word holds its low 32 bits, in a Uint32Array over the same bytes. */
export const LOW = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1

// ---- the codec -------------------------------------------------------------

export function badKind(kind: number): DrmError {
  return new DrmError('EINVAL', `unknown packed op kind ${kind}`)
}

export function decodeMap(w: BigUint64Array, at: number): MapRecord {
  return { addr: w[at + ADDR], range: w[at + RANGE], obj: Number(w[at + OBJ]), offset: w[at + OFFSET] }
}

export function decodeVa(w: BigUint64Array, at: number, flags: number): VaRecord {
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

export function encodeMap(w: BigUint64Array, at: number, m: MapRecord): void {
  w[at + ADDR] = m.addr
  w[at + RANGE] = m.range
  w[at + OBJ] = BigInt(m.obj)
  w[at + OFFSET] = m.offset
}

/** Writes the mapping a step names; returns its flags, for the high half of word 0. */
export function encodeVa(w: BigUint64Array, at: number, va: VaRecord): bigint {
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
  for (let i = 0; i < ops.length; i++) encodeOp(ops[i], w, i * OP_WORDS)
  return w
}
