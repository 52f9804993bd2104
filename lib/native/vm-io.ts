/**
 * Requests written to, and answers read from, the I/O layout of the native
 * VA space's fast calls (native/core/src/wire.rs): in the I/O buffer or in
 * the VA block (native/napi/vm_block.rs), whose views `Fast` holds. The calls
 * themselves stay in lib/native/gpuvm.ts, where the optimizing compiler sees
 * each entry point as a constant.
 */
import type { OpCounts, VaRecord } from '../contract/vm.js'
import { Wire } from '../contract/wire.gen.js'
import { BLOCK_ID, type Fast } from './fast.js'

/**
 * A count the binding wrote as an f64, the same number typed as a small
 * integer whenever it is one. Step counts read straight from a Float64Array
 * made V8 keep the `OpCounts` fields as doubles, each boxed in a HeapNumber
 * of its own: three allocations a result. As small integers they are stored
 * in the object itself. (Only -0 would change, and no count is -0.)
 */
const smallCount = (x: number): number => ((x | 0) === x ? x | 0 : x)

/** Writes a request's address, range, object and offset to the I/O buffer. */
export function ioRequest(f: Fast, addr: bigint, range: bigint, obj = 0, offset = 0n): void {
  const { words, halves } = f
  words[Wire.IO_ADDR_U64] = addr
  words[Wire.IO_RANGE_U64] = range
  halves[Wire.IO_OBJ_U32] = obj
  words[Wire.IO_OFFSET_U64] = offset
}

/**
 * Writes a request and the VA space's id to the VA block, if there is one
 * still attached; false if not (the caller takes the I/O buffer instead).
 */
export function blockRequest(f: Fast, id: number, addr: bigint, range: bigint, obj: number, offset: bigint): boolean {
  const { blockWords, blockHalves, blockNumbers } = f
  if (blockNumbers.length === 0) return false
  blockWords[Wire.IO_ADDR_U64] = addr
  blockWords[Wire.IO_RANGE_U64] = range
  blockHalves[Wire.IO_OBJ_U32] = obj
  blockWords[Wire.IO_OFFSET_U64] = offset
  blockNumbers[BLOCK_ID] = id
  return true
}

/** Writes a mapping's key (address and seq) to the I/O buffer. */
export function ioKey(f: Fast, addr: bigint, seq: number): void {
  f.words[Wire.IO_ADDR_U64] = addr
  f.numbers[Wire.IO_SEQ_F64] = seq
}

/** Writes a mapping's key and the VA space's id to the VA block; false without one (as `blockRequest`). */
export function blockKey(f: Fast, id: number, addr: bigint, seq: number): boolean {
  const { blockWords, blockNumbers } = f
  if (blockNumbers.length === 0) return false
  blockWords[Wire.IO_ADDR_U64] = addr
  blockNumbers[Wire.IO_SEQ_F64] = seq
  blockNumbers[BLOCK_ID] = id
  return true
}

/** The step counts a call wrote to these out slots (the I/O buffer's `out` or the block's), as small integers. */
export function countsIn(out: Float64Array): OpCounts {
  return {
    map: smallCount(out[Wire.IO_OUT_MAP]),
    remap: smallCount(out[Wire.IO_OUT_REMAP]),
    unmap: smallCount(out[Wire.IO_OUT_UNMAP]),
    prefetch: 0,
  }
}

/** The mapping a tree call wrote to the I/O buffer, if it found one. */
export const ioAnswer = (f: Fast): VaRecord | undefined => answerIn(f.words, f.halves, f.numbers)

/** The mapping a block tree call wrote to the VA block, if it found one. */
export const blockAnswer = (f: Fast): VaRecord | undefined => answerIn(f.blockWords, f.blockHalves, f.blockNumbers)

function answerIn(words: BigUint64Array, halves: Uint32Array, numbers: Float64Array): VaRecord | undefined {
  if (halves[Wire.IO_VA_FOUND_U32] === 0) return undefined
  return {
    addr: words[Wire.IO_VA_ADDR_U64],
    range: words[Wire.IO_VA_RANGE_U64],
    obj: halves[Wire.IO_VA_OBJ_U32],
    offset: words[Wire.IO_VA_OFFSET_U64],
    seq: numbers[Wire.IO_VA_SEQ_F64],
    flags: halves[Wire.IO_VA_FLAGS_U32],
  }
}
