/**
 * The native VA space's fast entry points (native/napi/calls.rs) as
 * JavaScript sees them: their I/O buffer's and VA block's views, the
 * binding's functions as a plain object, and the chunks op lists are copied
 * into. lib/native/gpuvm.ts keeps the one object of them it reads from.
 */
import { Wire } from '../contract/wire.gen.js'
import type { loadBinding } from './binding.js'

/**
 * The raw entry points of the hot calls (`fastInit`, native/napi/calls.rs)
 * and the views of this thread's I/O buffer they read their arguments from
 * and write their results to. The buffer's layout is defined once, in
 * native/core/src/wire.rs: each slot is an index into the view of its type
 * (IO_*_U64 into `words`, IO_*_U32 into `halves`, IO_*_F64 into `numbers`,
 * IO_OUT_* into `out`), from lib/contract/wire.gen.ts (its `Wire` const enum,
 * which tsc writes into this file as numbers).
 */
export interface Fast {
  readonly calls: ReturnType<Binding['fastInit']>
  /** In: addr, range, offset. Out (tree calls): the mapping's addr, range, offset. */
  readonly words: BigUint64Array
  /** In: obj (or a walk's id). Out (tree calls): the mapping's obj, flags, found (1 or 0). */
  readonly halves: Uint32Array
  /** In: a mapping's seq (remove, get). Out (tree calls): its seq. */
  readonly numbers: Float64Array
  /** map, remap, unmap, requests applied (batch; -1 until then); a number answer (an op list's length in words, a walk's id, a count), as map */
  readonly out: Float64Array
  /** The op list an op-list call wrote past the first `IO_BYTES`, as 32-bit halves. */
  readonly ops: Uint32Array
  /** The same bytes as words: a walk's step out, `apply`'s op in. */
  readonly opWords: BigUint64Array
  /**
   * Views of the VA block (native/napi/vm_block.rs), read by `blockBind`,
   * `blockUnbind`, `blockInsert`, `blockRemove`, `blockGet`, `blockFind` and
   * `blockFindFirst`: the I/O layout (as `words`, `halves`, `numbers`,
   * `out`), then the VA space's id (the last of `blockNumbers`). Memory the
   * addon never frees, so those calls ask Node for no argument and no
   * buffer. Empty where the runtime gives no block, or once it is detached:
   * the calls through the I/O buffer serve then.
   */
  readonly blockWords: BigUint64Array
  readonly blockHalves: Uint32Array
  readonly blockNumbers: Float64Array
  readonly blockOut: Float64Array
}

/** Where the VA space's id is in the block's numbers (vm_block.rs `ID_AT`). */
export const BLOCK_ID = Wire.IO_MIN_BYTES / 8

type Binding = ReturnType<typeof loadBinding>

/**
 * Op lists are copied out of the I/O buffer into slices of shared chunks of
 * this size, as Node pools small Buffers: a typed array with its own memory
 * costs about a microsecond to make, a view of a chunk a tenth of that. A
 * list kept alive keeps its chunk alive. A chunk holds any list the I/O
 * buffer can.
 */
const POOL_BYTES = Wire.IO_OPS_BYTES

/** The chunk op lists are being carved from: its bytes, as halves, and how many are used (none yet). */
let pool = { buffer: new ArrayBuffer(0), halves: new Uint32Array(0), used: POOL_BYTES }

/** A BigUint64Array of the `words` words an op-list call left in the I/O buffer. */
export function takeOps(io: Uint32Array, words: number): BigUint64Array {
  if (words === 0) return new BigUint64Array(0)
  const bytes = words * 8
  if (pool.used + bytes > POOL_BYTES) {
    const buffer = new ArrayBuffer(POOL_BYTES)
    pool = { buffer, halves: new Uint32Array(buffer), used: 0 }
  }
  const { halves, used } = pool
  // As 32-bit halves: copied as they are, where f64 could change a NaN's bits.
  halves.set(io.subarray(0, 2 * words), used / 4)
  pool.used = used + bytes
  return new BigUint64Array(pool.buffer, used, words)
}

/** The binding's entry points as a plain object of fixed shape (see `fast`). */
function entries(raw: Fast['calls']): Fast['calls'] {
  return {
    io: raw.io,
    bind: raw.bind,
    unbind: raw.unbind,
    bindBatch: raw.bindBatch,
    bindArray: raw.bindArray,
    insert: raw.insert,
    remove: raw.remove,
    get: raw.get,
    find: raw.find,
    findFirst: raw.findFirst,
    smMapOps: raw.smMapOps,
    smUnmapOps: raw.smUnmapOps,
    prefetchOps: raw.prefetchOps,
    gemUnmapOps: raw.gemUnmapOps,
    madviseOps: raw.madviseOps,
    smMap: raw.smMap,
    smUnmap: raw.smUnmap,
    step: raw.step,
    close: raw.close,
    apply: raw.apply,
    warnings: raw.warnings,
    block: raw.block,
    blockBind: raw.blockBind,
    blockUnbind: raw.blockUnbind,
    blockInsert: raw.blockInsert,
    blockRemove: raw.blockRemove,
    blockGet: raw.blockGet,
    blockFind: raw.blockFind,
    blockFindFirst: raw.blockFindFirst,
  }
}

/** Views of the VA block (empty when there is none or it cannot be read). */
function blockViews(block: ArrayBuffer | null): Pick<Fast, 'blockWords' | 'blockHalves' | 'blockNumbers' | 'blockOut'> {
  try {
    if (block !== null) {
      return {
        blockWords: new BigUint64Array(block, 0, Wire.IO_BYTES / 8),
        blockHalves: new Uint32Array(block, 0, Wire.IO_BYTES / 4),
        blockNumbers: new Float64Array(block, 0, BLOCK_ID + 1),
        blockOut: new Float64Array(block, Wire.IO_OUT, Wire.IO_OUT_SLOTS),
      }
    }
  } catch {
    // Detached already (only code poking at the binding can): the I/O buffer serves.
  }
  return {
    blockWords: new BigUint64Array(0),
    blockHalves: new Uint32Array(0),
    blockNumbers: new Float64Array(0),
    blockOut: new Float64Array(0),
  }
}

/** Sets `target`'s fields, always in this order (one shape), from what `fastInit` returned. */
export function fillFast(target: Fast, raw: Fast['calls']): void {
  const calls = entries(raw)
  const { io } = calls
  const f = target as { -readonly [K in keyof Fast]: Fast[K] }
  f.calls = calls
  f.words = new BigUint64Array(io, 0, Wire.IO_BYTES / 8)
  f.halves = new Uint32Array(io, 0, Wire.IO_BYTES / 4)
  f.numbers = new Float64Array(io, 0, Wire.IO_BYTES / 8)
  f.out = new Float64Array(io, Wire.IO_OUT, Wire.IO_OUT_SLOTS)
  f.ops = new Uint32Array(io, Wire.IO_BYTES, Wire.IO_OPS_BYTES / 4)
  f.opWords = new BigUint64Array(io, Wire.IO_BYTES, Wire.IO_OPS_BYTES / 8)
  const views = blockViews(calls.block)
  f.blockWords = views.blockWords
  f.blockHalves = views.blockHalves
  f.blockNumbers = views.blockNumbers
  f.blockOut = views.blockOut
}
