/**
 * Memory domains (TTM resource managers): VRAM and GTT with a capacity,
 * SYSTEM unbounded unless given one; each a drm_mm range allocator plus an
 * LRU (native/core/src/device/domain.rs).
 */
import type { DomainRecord } from '../../contract/device.js'
import { DrmError } from '../../base/errors.js'
import { ReferenceMm } from '../alloc/mm.js'
import { Lru } from './pressure.js'
import { type DevState, DOMAIN_NAMES, U64_MAX } from './state.js'

export interface MemDomain {
  mm: ReferenceMm
  capacity: bigint
  /** One LRU per priority (lru.ts). */
  lru: Lru
}

function manager(capacity: bigint): MemDomain {
  return { mm: new ReferenceMm(0n, capacity), capacity, lru: new Lru() }
}

/** Index 0 SYSTEM, 1 GTT, 2 VRAM; null when the device has no such manager. */
export function makeMemory(vram: bigint, gtt: bigint, system: bigint | null): (MemDomain | null)[] {
  if (system === 0n) throw new DrmError('EINVAL', 'system memory needs a capacity above 0')
  const opt = (c: bigint) => (c === 0n ? null : manager(c))
  return [manager(system ?? U64_MAX), opt(gtt), opt(vram)]
}

export const memOf = (d: DevState, domain: number): MemDomain | null => d.mem[domain - 1] ?? null

export function domainStats(d: DevState, domain: number): DomainRecord {
  const m = memOf(d, domain)
  if (m === null) throw new DrmError('EINVAL', `the device has no ${DOMAIN_NAMES[domain]} manager`)
  const s = m.mm.stats()
  return {
    capacity: m.capacity,
    used: s.used,
    free: s.free,
    largestFree: s.largestHole,
    fragmentation: s.free === 0n ? 0 : 1 - Number(s.largestHole) / Number(s.free),
    lruLen: m.lru.size,
  }
}

/** null for an empty buffer; ENOSPC when nothing fits. TOPDOWN takes the highest hole. */
export function domainAlloc(d: DevState, domain: number, size: bigint, topdown: boolean): bigint | null {
  const m = memOf(d, domain)
  if (m === null) throw new DrmError('ENOSPC', `no ${DOMAIN_NAMES[domain]} manager`)
  if (size === 0n) return null
  return m.mm.insert(size, 0n, 0n, 0n, m.capacity, topdown ? 'high' : 'best')
}

export function domainFree(d: DevState, domain: number, node: bigint | null): void {
  const m = memOf(d, domain)
  if (m === null || node === null) return
  try {
    m.mm.remove(node)
  } catch {
    // Handed out by this allocator; leaking is the safe answer to a bug.
  }
}
