/**
 * The native engine of the allocators: `MmCore` / `BuddyCore` over the
 * binding classes `NativeMm` / `NativeBuddy` (native/napi/alloc.rs). This
 * layer only converts packed lists and errors; every rule lives in Rust.
 */

import type { NativeBuddy, NativeMm } from '../../index.js'
import {
  INSERT_MODES,
  type BlockRecord,
  type BuddyCore,
  type BuddyStatsRecord,
  type ColorAdjustRecord,
  type HoleRecord,
  type InsertMode,
  type MmCore,
  type MmNodeRecord,
  type MmStatsRecord,
  type ScanRunRecord,
} from '../contract/alloc.js'
import { DrmError } from '../base/errors.js'
import { call, loadBinding } from './binding.js'

const modeNumber = (mode: InsertMode): number => INSERT_MODES.indexOf(mode)

function blocks(w: BigUint64Array): BlockRecord[] {
  const out: BlockRecord[] = []
  for (let i = 0; i < w.length; i += 3) out.push({ offset: w[i], size: w[i + 1], clear: w[i + 2] === 1n })
  return out
}

export class NativeMmCore implements MmCore {
  readonly engine = 'native' as const
  readonly #mm: NativeMm
  /** Arguments in, result out: a BigInt per argument costs more than an insert. */
  readonly #io = new BigUint64Array(5)

  constructor(start: bigint, size: bigint, adjust?: ColorAdjustRecord) {
    if (adjust !== undefined && 'hook' in adjust) {
      throw new DrmError('EINVAL', 'a colour-adjust hook runs on the reference engine only; use { guard } here')
    }
    const { NativeMm } = loadBinding()
    this.#mm = call(() => new NativeMm(start, size, adjust?.guard ?? 0n))
  }

  insert(
    size: bigint,
    alignment: bigint,
    color: bigint,
    rangeStart: bigint,
    rangeEnd: bigint,
    mode: InsertMode,
  ): bigint {
    const io = this.#io
    io[0] = size
    io[1] = alignment
    io[2] = color
    io[3] = rangeStart
    io[4] = rangeEnd
    call(() => this.#mm.insertIo(io, modeNumber(mode)))
    return io[0]
  }

  reserve(start: bigint, size: bigint, color: bigint): void {
    call(() => this.#mm.reserve(start, size, color))
  }

  remove(start: bigint): void {
    call(() => this.#mm.remove(start))
  }

  replace(start: bigint, color: bigint): void {
    call(() => this.#mm.replace(start, color))
  }

  nodes(): MmNodeRecord[] {
    const w = call(() => this.#mm.nodes())
    const out: MmNodeRecord[] = []
    for (let i = 0; i < w.length; i += 3) out.push({ start: w[i], size: w[i + 1], color: w[i + 2] })
    return out
  }

  holes(): HoleRecord[] {
    const w = call(() => this.#mm.holes())
    const out: HoleRecord[] = []
    for (let i = 0; i < w.length; i += 2) out.push({ start: w[i], size: w[i + 1] })
    return out
  }

  stats(): MmStatsRecord {
    const w = call(() => this.#mm.stats())
    return { used: w[0], free: w[1], largestHole: w[2], nodes: Number(w[3]), holes: Number(w[4]) }
  }

  scanInit(
    size: bigint,
    alignment: bigint,
    color: bigint,
    rangeStart: bigint,
    rangeEnd: bigint,
    mode: InsertMode,
  ): void {
    const args = BigUint64Array.of(size, alignment, color, rangeStart, rangeEnd)
    call(() => this.#mm.scanInit(args, modeNumber(mode)))
  }

  scanColorEvict(): bigint | null {
    const w = call(() => this.#mm.scanColorEvict())
    return w.length === 1 ? w[0] : null
  }

  scanAdd(start: bigint): boolean {
    return call(() => this.#mm.scanAdd(start))
  }

  scanRemove(start: bigint): boolean {
    return call(() => this.#mm.scanRemove(start))
  }

  scanHit(): { start: bigint; end: bigint } | null {
    const w = call(() => this.#mm.scanHit())
    return w.length === 2 ? { start: w[0], end: w[1] } : null
  }

  scanRun(candidates: bigint[]): ScanRunRecord {
    const w = call(() => this.#mm.scanRun(BigUint64Array.from(candidates)))
    return { found: w[0] === 1n, evict: Array.from(w.subarray(1)) }
  }
}

export class NativeBuddyCore implements BuddyCore {
  readonly engine = 'native' as const
  readonly size: bigint
  readonly maxOrder: number
  readonly #b: NativeBuddy
  /** Arguments in, blocks out; larger results come back through takeSpill. */
  readonly #io = new BigUint64Array(96)

  constructor(size: bigint, chunkSize: bigint) {
    const { NativeBuddy } = loadBinding()
    this.#b = call(() => new NativeBuddy(size, chunkSize))
    this.size = this.#b.size
    this.maxOrder = this.#b.maxOrder
  }

  alloc(start: bigint, end: bigint, size: bigint, minBlockSize: bigint, flags: number): BlockRecord[] {
    const io = this.#io
    io[0] = start
    io[1] = end
    io[2] = size
    io[3] = minBlockSize
    const n = call(() => this.#b.allocIo(io, flags))
    return blocks(3 * n <= io.length ? io.subarray(0, 3 * n) : call(() => this.#b.takeSpill()))
  }

  free(offsets: bigint[], cleared: boolean): void {
    call(() => this.#b.free(BigUint64Array.from(offsets), cleared))
  }

  resetClear(isClear: boolean): void {
    call(() => this.#b.resetClear(isClear))
  }

  trim(offset: bigint, newSize: bigint): BlockRecord[] {
    return blocks(call(() => this.#b.trim(offset, newSize)))
  }

  roots(): BlockRecord[] {
    return blocks(call(() => this.#b.roots()))
  }

  freeList(): BlockRecord[] {
    return blocks(call(() => this.#b.freeList()))
  }

  allocatedList(): BlockRecord[] {
    return blocks(call(() => this.#b.allocatedList()))
  }

  stats(): BuddyStatsRecord {
    const w = call(() => this.#b.stats())
    return {
      size: w[0],
      avail: w[1],
      used: w[2],
      largestFree: w[3],
      freeBlocks: Number(w[4]),
      allocatedBlocks: Number(w[5]),
      clearAvail: w[6],
    }
  }
}
