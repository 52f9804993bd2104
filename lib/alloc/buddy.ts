/**
 * `BuddyAllocator`: the kernel's `drm_buddy` allocator, on either engine.
 *
 * An allocation is a list of power-of-two `BuddyBlock`s. Failures are
 * DrmError with the kernel's errno (ENOSPC when it does not fit, EINVAL for
 * bad arguments exactly where drm_buddy_alloc_blocks returns it) and leave
 * the allocator unchanged.
 */

import {
  BUDDY_CLEAR_ALLOCATION,
  BUDDY_CONTIGUOUS,
  BUDDY_RANGE,
  BUDDY_TOPDOWN,
  BUDDY_TRIM_DISABLE,
  type BlockRecord,
  type BuddyCore,
} from '../contract/alloc.js'
import type { EngineName } from '../contract/vm.js'
import { engineOf, resolveEngine } from '../engines.js'
import { count, flag, hex, invalid, isObject, list, options, u64, u64Or } from '../base/check.js'

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
  /** CLEAR_ALLOCATION: prefer cleared blocks (each block's `clear` says what it got). */
  clear?: boolean
}

export interface BuddyFreeOptions {
  /** DRM_BUDDY_CLEARED: the blocks were zeroed; otherwise they come back dirty. */
  cleared?: boolean
}

export interface BuddyStats {
  size: bigint
  avail: bigint
  /** Free bytes known to be cleared (`clear_avail`). */
  clearAvail: bigint
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

/** A free block: `clear` when it is known to hold zeroes. */
export interface FreeBlockInfo extends BlockInfo {
  clear: boolean
}

/** Brand checks a Proxy fails (set in the classes' static blocks). */
let isAllocator: (v: unknown) => v is BuddyAllocator
let isBlock: (v: unknown) => v is BuddyBlock

/** An allocated block (made by its allocator's `alloc` and `trim`). */
export class BuddyBlock {
  readonly #owner: BuddyAllocator
  readonly offset: bigint
  readonly size: bigint
  readonly order: number
  /** Whether the block was cleared when it was handed out (`drm_buddy_block_is_clear`). */
  readonly clear: boolean

  static {
    isBlock = (v): v is BuddyBlock => isObject(v) && #owner in v
  }

  constructor(owner: BuddyAllocator, offset: bigint, size: bigint, order: number, clear = false) {
    if (!isAllocator(owner)) throw invalid('owner', 'a BuddyAllocator', owner)
    this.#owner = owner
    this.offset = u64(offset, 'offset')
    this.size = u64(size, 'size')
    this.order = count(order, 'order', 63)
    this.clear = flag(clear, 'clear')
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

  static {
    isAllocator = (v): v is BuddyAllocator => isObject(v) && #live in v
  }

  constructor(opts: BuddyAllocatorOptions) {
    const o = options<BuddyAllocatorOptions>(opts, 'BuddyAllocator options')
    const size = u64(o.size, 'size')
    this.chunkSize = u64Or(o.chunkSize, 'chunkSize', 4096n)
    this.engine = resolveEngine(o.engine)
    this.#core = engineOf(this.engine).buddy(size, this.chunkSize)
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

  /** Free bytes known to be cleared. */
  get clearAvail(): bigint {
    return this.#core.stats().clearAvail
  }

  #info(r: BlockRecord): BlockInfo {
    const order = r.size.toString(2).length - this.chunkSize.toString(2).length
    return { offset: r.offset, size: r.size, order }
  }

  #track(r: BlockRecord): BuddyBlock {
    const i = this.#info(r)
    const b = new BuddyBlock(this, i.offset, i.size, i.order, r.clear)
    this.#live.set(b.offset, b)
    return b
  }

  /** `drm_buddy_alloc_blocks`; blocks in the kernel's list order. */
  alloc(req: BuddyAllocRequest): BuddyBlock[] {
    const r = options<BuddyAllocRequest>(req, 'alloc request')
    const size = u64(r.size, 'size')
    const min = u64Or(r.minBlockSize, 'minBlockSize', this.chunkSize)
    let flags = 0
    let start = 0n
    let end = this.size
    if (r.range !== undefined) {
      const range = options<{ start: bigint; end: bigint }>(r.range, 'range')
      start = u64(range.start, 'range.start')
      end = u64(range.end, 'range.end')
      flags |= BUDDY_RANGE
    }
    if (flag(r.topdown, 'topdown')) flags |= BUDDY_TOPDOWN
    if (flag(r.contiguous, 'contiguous')) flags |= BUDDY_CONTIGUOUS
    if (flag(r.trimDisable, 'trimDisable')) flags |= BUDDY_TRIM_DISABLE
    if (flag(r.clear, 'clear')) flags |= BUDDY_CLEAR_ALLOCATION
    return this.#core.alloc(start, end, size, min, flags).map((r) => this.#track(r))
  }

  #own(block: unknown): BuddyBlock {
    if (!isBlock(block) || this.#live.get(block.offset) !== block) {
      throw invalid('block', 'a block allocated in this buddy allocator', block)
    }
    return block
  }

  /** `drm_buddy_free_list`: all or nothing; dirty unless `cleared`. */
  free(blocks: BuddyBlock | readonly BuddyBlock[], opts?: BuddyFreeOptions): void {
    const o = opts === undefined ? {} : options<BuddyFreeOptions>(opts, 'free options')
    const cleared = flag(o.cleared, 'cleared')
    const offsets = (isBlock(blocks) ? [blocks] : list(blocks, 'blocks')).map((b) => this.#own(b).offset)
    this.#core.free(offsets, cleared)
    for (const off of offsets) this.#live.delete(off)
  }

  /** `drm_buddy_reset_clear`: merges what is free as far as it goes, then marks it all cleared or dirty. */
  resetClear(isClear: boolean): void {
    this.#core.resetClear(flag(isClear, 'isClear'))
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
    return this.#live.get(u64(offset, 'offset'))
  }

  /** Allocated blocks in address order. */
  blocks(): BuddyBlock[] {
    return this.#core.allocatedList().map((r) => this.#live.get(r.offset)!)
  }

  /** Free blocks in address order. */
  freeBlocks(): FreeBlockInfo[] {
    return this.#core.freeList().map((r) => ({ ...this.#info(r), clear: r.clear }))
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
