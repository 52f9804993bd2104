/**
 * `BuddyAllocator`: the kernel's `drm_buddy` allocator, on either engine.
 *
 * An allocation is a list of power-of-two `BuddyBlock`s. Failures are
 * DrmError with the kernel's errno (ENOSPC when it does not fit, EINVAL for
 * bad arguments exactly where drm_buddy_alloc_blocks returns it) and leave
 * the allocator unchanged.
 */

import {
  BUDDY_CONTIGUOUS,
  BUDDY_RANGE,
  BUDDY_TOPDOWN,
  BUDDY_TRIM_DISABLE,
  type BlockRecord,
  type BuddyCore,
} from './alloc-engine.js'
import type { EngineName } from './engine.js'
import { resolveEngine } from './engines.js'
import { DrmError } from './errors.js'
import { NativeBuddyCore } from './native/alloc.js'
import { ReferenceBuddy } from './reference/buddy.js'
import { describe, hex, u64 } from './u64.js'

export interface BuddyAllocatorOptions {
  /** Rounded down to a multiple of the chunk size. */
  size: bigint
  /** A power of two, at least 4 KiB; 4 KiB by default. */
  chunkSize?: bigint
  engine?: EngineName
}

export interface BuddyAllocRequest {
  size: bigint
  /** A power of two, at least the chunk size; the chunk size by default. */
  minBlockSize?: bigint
  /** `[start, end)` (RANGE); when `end - start == size` the exact range is taken. */
  range?: { start: bigint; end: bigint }
  /** TOPDOWN: the highest free blocks. */
  topdown?: boolean
  /** CONTIGUOUS: one run, rounded up to a power of two and trimmed back. */
  contiguous?: boolean
  /** TRIM_DISABLE: keep the rounded-up tail allocated. */
  trimDisable?: boolean
}

export interface BuddyStats {
  size: bigint
  avail: bigint
  used: bigint
  largestFree: bigint
  freeBlocks: number
  allocatedBlocks: number
  /** `1 - largestFree / avail`; 0 when nothing is free. */
  fragmentation: number
}

export interface BlockInfo {
  offset: bigint
  size: bigint
  order: number
}

/** An allocated block. */
export class BuddyBlock {
  readonly #owner: BuddyAllocator

  constructor(
    owner: BuddyAllocator,
    readonly offset: bigint,
    readonly size: bigint,
    readonly order: number,
  ) {
    this.#owner = owner
  }

  get end(): bigint {
    return this.offset + this.size
  }

  /** False once freed or trimmed. */
  get allocated(): boolean {
    return this.#owner.blockAt(this.offset) === this
  }

  toString(): string {
    return `BuddyBlock(${hex(this.offset)}+${hex(this.size)})`
  }
}

export class BuddyAllocator {
  readonly engine: EngineName
  readonly chunkSize: bigint
  readonly #core: BuddyCore
  readonly #live = new Map<bigint, BuddyBlock>()

  constructor(options: BuddyAllocatorOptions) {
    this.engine = resolveEngine(options.engine)
    const size = u64(options.size, 'size')
    this.chunkSize = u64(options.chunkSize ?? 4096n, 'chunkSize')
    this.#core =
      this.engine === 'native' ? new NativeBuddyCore(size, this.chunkSize) : new ReferenceBuddy(size, this.chunkSize)
  }

  /** The managed size, rounded down to a multiple of the chunk. */
  get size(): bigint {
    return this.#core.size
  }

  get maxOrder(): number {
    return this.#core.maxOrder
  }

  get avail(): bigint {
    return this.#core.stats().avail
  }

  #info(r: BlockRecord): BlockInfo {
    return { offset: r.offset, size: r.size, order: r.size.toString(2).length - this.chunkSize.toString(2).length }
  }

  #track(r: BlockRecord): BuddyBlock {
    const i = this.#info(r)
    const b = new BuddyBlock(this, i.offset, i.size, i.order)
    this.#live.set(b.offset, b)
    return b
  }

  /** `drm_buddy_alloc_blocks`; blocks in the kernel's list order. */
  alloc(req: BuddyAllocRequest): BuddyBlock[] {
    const size = u64(req.size, 'size')
    const min = u64(req.minBlockSize ?? this.chunkSize, 'minBlockSize')
    let flags = 0
    let start = 0n
    let end = this.size
    if (req.range !== undefined) {
      start = u64(req.range.start, 'range.start')
      end = u64(req.range.end, 'range.end')
      flags |= BUDDY_RANGE
    }
    if (req.topdown) flags |= BUDDY_TOPDOWN
    if (req.contiguous) flags |= BUDDY_CONTIGUOUS
    if (req.trimDisable) flags |= BUDDY_TRIM_DISABLE
    return this.#core.alloc(start, end, size, min, flags).map((r) => this.#track(r))
  }

  #own(block: unknown): BuddyBlock {
    if (!(block instanceof BuddyBlock) || this.#live.get(block.offset) !== block) {
      throw new DrmError('EINVAL', `${describe(block)} is not a block allocated in this buddy allocator`)
    }
    return block
  }

  /** `drm_buddy_free_list`: all or nothing. */
  free(blocks: BuddyBlock | readonly BuddyBlock[]): void {
    const list = blocks instanceof BuddyBlock ? [blocks] : [...blocks]
    const offsets = list.map((b) => this.#own(b).offset)
    this.#core.free(offsets)
    for (const o of offsets) this.#live.delete(o)
  }

  /** `drm_buddy_block_trim`: keeps the first `newSize` bytes of the block, frees the rest. */
  trim(block: BuddyBlock, newSize: bigint): BuddyBlock[] {
    const b = this.#own(block)
    const pieces = this.#core.trim(b.offset, u64(newSize, 'newSize'))
    if (pieces.length === 1 && pieces[0].size === b.size) return [b]
    this.#live.delete(b.offset)
    return pieces.map((r) => this.#track(r))
  }

  blockAt(offset: bigint): BuddyBlock | undefined {
    return this.#live.get(offset)
  }

  /** Allocated blocks in address order. */
  blocks(): BuddyBlock[] {
    return this.#core.allocatedList().map((r) => this.#live.get(r.offset)!)
  }

  /** Free blocks in address order. */
  freeBlocks(): BlockInfo[] {
    return this.#core.freeList().map((r) => this.#info(r))
  }

  roots(): BlockInfo[] {
    return this.#core.roots().map((r) => this.#info(r))
  }

  stats(): BuddyStats {
    const s = this.#core.stats()
    const fragmentation = s.avail === 0n ? 0 : 1 - Number(s.largestFree) / Number(s.avail)
    return { ...s, fragmentation }
  }
}
