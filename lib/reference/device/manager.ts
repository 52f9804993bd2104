/**
 * Resource managers (native/core/src/device/manager.rs), one per memory
 * type: a size, `use_tt`, an LRU and a range allocator, drm_mm (byte ranges)
 * or buddy (4 KiB pages). Each resource keeps its blocks and the flags it was
 * placed with, for `ttm_resource_compatible` / `intersects`.
 */
import { Lru } from './pressure.js'
import { BUDDY_CONTIGUOUS, BUDDY_RANGE, BUDDY_TOPDOWN } from '../../contract/alloc.js'
import { DrmError } from '../../base/errors.js'
import { ReferenceBuddy } from '../alloc/buddy.js'
import { ReferenceMm } from '../alloc/mm.js'

export const PL_CONTIGUOUS = 1 << 0
export const PL_TOPDOWN = 1 << 1
export const PL_TEMPORARY = 1 << 2
export const PL_DESIRED = 1 << 3
export const PL_FALLBACK = 1 << 4
export const PAGE = 4096n
export const MM = 0
export const BUDDY = 1

/** One place; no window when fpfn and lpfn are 0 or absent. */
export interface Place {
  domain: number
  flags: number
  fpfn?: number
  lpfn?: number
}

interface Res {
  /** [offset, size] in address order. */
  blocks: [bigint, bigint][]
  flags: number
}

/** The place's window in bytes, clipped to `capacity` (may be empty). */
export function windowOf(p: Place, capacity: bigint): [bigint, bigint] {
  const start = BigInt(p.fpfn ?? 0) << 12n
  const l = p.lpfn ?? 0
  const end = l === 0 ? capacity : BigInt(l) << 12n < capacity ? BigInt(l) << 12n : capacity
  return [start < end ? start : end, end]
}

const hasWindow = (p: Place) => (p.fpfn ?? 0) !== 0 || (p.lpfn ?? 0) !== 0

export class MemDomain {
  readonly alloc: ReferenceMm | ReferenceBuddy
  readonly capacity: bigint
  /** LRU order: seq -> object, least recently used first. */
  /** One LRU per priority (lru.ts). */
  readonly lru = new Lru()
  readonly #res = new Map<bigint, Res>()

  constructor(
    readonly name: string,
    capacity: bigint,
    readonly kind: number,
    readonly useTt: boolean,
  ) {
    if (kind === BUDDY) {
      const b = new ReferenceBuddy(capacity, PAGE)
      this.alloc = b
      this.capacity = b.size
    } else {
      this.alloc = new ReferenceMm(0n, capacity)
      this.capacity = capacity
    }
  }

  stats(): { used: bigint; free: bigint; largestFree: bigint } {
    if (this.alloc instanceof ReferenceBuddy) {
      const s = this.alloc.stats()
      return { used: s.used, free: s.avail, largestFree: s.largestFree }
    }
    const s = this.alloc.stats()
    return { used: s.used, free: s.free, largestFree: s.largestHole }
  }

  /** null for an empty buffer; ENOSPC when the window has no room. */
  allocate(size: bigint, p: Place): bigint | null {
    if (size === 0n) return null
    const [start, end] = windowOf(p, this.capacity)
    const noRoom = () => new DrmError('ENOSPC', `no room for ${size} bytes in ${this.name}`)
    let blocks: [bigint, bigint][]
    if (this.alloc instanceof ReferenceBuddy) {
      const pages = ((size + PAGE - 1n) / PAGE) * PAGE
      // Fewer free bytes than asked: fail before the buddy takes and returns blocks (manager.rs).
      if (pages > end - start || pages > this.alloc.avail) throw noRoom()
      let flags = 0
      if (p.flags & PL_TOPDOWN) flags |= BUDDY_TOPDOWN
      if (p.flags & PL_CONTIGUOUS) flags |= BUDDY_CONTIGUOUS
      if (start !== 0n || end !== this.alloc.size) flags |= BUDDY_RANGE
      try {
        blocks = this.alloc.alloc(start, end, pages, PAGE, flags).map((b) => [b.offset, b.size])
      } catch (e) {
        throw new DrmError('ENOSPC', e instanceof DrmError ? e.message : String(e))
      }
    } else {
      if (size > end - start) throw noRoom()
      const at = this.alloc.insert(size, 0n, 0n, start, end, p.flags & PL_TOPDOWN ? 'high' : 'best')
      blocks = [[at, size]]
    }
    const key = blocks[0][0]
    blocks.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    let oneRun = true
    for (let i = 1; i < blocks.length; i++) if (blocks[i - 1][0] + blocks[i - 1][1] !== blocks[i][0]) oneRun = false
    this.#res.set(key, { blocks, flags: (p.flags & PL_TEMPORARY) | (oneRun ? PL_CONTIGUOUS : 0) })
    return key
  }

  free(node: bigint | null): void {
    if (node === null) return
    const r = this.#res.get(node)
    if (r === undefined) return
    this.#res.delete(node)
    try {
      // A freed resource is dirty (TTM does not clear on free), as the Rust manager's free_blocks.
      if (this.alloc instanceof ReferenceBuddy)
        this.alloc.free(
          r.blocks.map((b) => b[0]),
          false,
        )
      else this.alloc.remove(node)
    } catch {
      // Handed out by this allocator; leaking is the safe answer to a bug.
    }
  }

  resFlags(node: bigint | null): number {
    const r = node === null ? undefined : this.#res.get(node)
    return r === undefined ? PL_CONTIGUOUS : r.flags
  }

  blocks(node: bigint | null): [bigint, bigint][] {
    const r = node === null ? undefined : this.#res.get(node)
    return r === undefined ? [] : r.blocks.map((b) => [b[0], b[1]])
  }

  /** Every block inside the window; one run when the place is CONTIGUOUS. */
  compatible(node: bigint | null, p: Place): boolean {
    const r = node === null ? undefined : this.#res.get(node)
    if (r === undefined) return true
    if (p.flags & PL_CONTIGUOUS && !(r.flags & PL_CONTIGUOUS)) return false
    const [s, e] = windowOf(p, this.capacity)
    return r.blocks.every(([o, l]) => o >= s && o + l <= e)
  }

  /** Some block inside the window. */
  intersects(node: bigint | null, p: Place): boolean {
    const r = node === null ? undefined : this.#res.get(node)
    if (r === undefined) return !hasWindow(p)
    const [s, e] = windowOf(p, this.capacity)
    return r.blocks.some(([o, l]) => o < e && o + l > s)
  }
}
