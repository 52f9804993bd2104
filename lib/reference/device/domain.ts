/**
 * Memory domains (TTM resource managers, manager.ts): VRAM and GTT with a
 * capacity, SYSTEM unbounded unless given one, plus the driver's private
 * types (native/core/src/device/domain.rs).
 */
import type { DomainRecord, MemoryRecord } from '../../contract/device.js'
import { DrmError } from '../../base/errors.js'
import { BUDDY, MemDomain, MM, type Place, PL_TOPDOWN } from './manager.js'
import { type DevState, DOMAIN_NAMES, U64_MAX } from './state.js'

export type { MemDomain } from './manager.js'

/** TTM_NUM_MEM_TYPES and the first private type, in drmsim's numbering (kernel type + 1). */
export const MAX_TYPES = 9
export const PRIV_BASE = 4
/** amdgpu: VRAM <-> SYSTEM through GTT, as from, to, via triples. */
export const DEFAULT_HOPS = [1, 3, 2, 3, 1, 2]

export const typeName = (domain: number): string => DOMAIN_NAMES[domain] ?? 'none'

const kindOf = (v: number | undefined, dflt: number, what: string): number => {
  const k = v ?? dflt
  if (k !== MM && k !== BUDDY) throw new DrmError('EINVAL', `${what} must be 0 (drm_mm) or 1 (buddy), got ${k}`)
  return k
}

/** Index 0 SYSTEM, 1 GTT, 2 VRAM, 3.. private; null when the device has no such manager. */
export function makeMemory(m: MemoryRecord): { mem: (MemDomain | null)[]; hops: number[] } {
  const vramKind = kindOf(m.vramAllocator, BUDDY, 'the VRAM allocator')
  const gttKind = kindOf(m.gttAllocator, MM, 'the GTT allocator')
  const priv = (m.private ?? []).map((t) => ({
    ...t,
    allocator: kindOf(t.allocator, MM, "a private type's allocator"),
  }))
  const hops = m.hops ?? DEFAULT_HOPS
  if (hops.length % 3 !== 0) throw new DrmError('EINVAL', `hops are from, to, via triples, got ${hops.length} numbers`)
  for (const h of hops) {
    if (!(h >= 1 && h <= MAX_TYPES)) throw new DrmError('EINVAL', `a memory type must be 1..9, got ${h}`)
  }
  const max = MAX_TYPES - PRIV_BASE + 1
  if (priv.length > max) throw new DrmError('EINVAL', `${priv.length} private memory types, TTM has room for ${max}`)
  priv.forEach((t, i) => {
    if (t.name === '' || ['system', 'gtt', 'vram', 'none'].includes(t.name)) {
      throw new DrmError('EINVAL', `private memory type ${i} needs a name of its own, got ${JSON.stringify(t.name)}`)
    }
    if (priv.slice(0, i).some((u) => u.name === t.name)) {
      throw new DrmError('EINVAL', `private memory type ${JSON.stringify(t.name)} is declared twice`)
    }
  })
  const system = m.system ?? null
  if (system === 0n) throw new DrmError('EINVAL', 'system memory needs a capacity above 0')
  const opt = (name: string, c: bigint, kind: number, tt: boolean) =>
    c === 0n ? null : new MemDomain(name, c, kind, tt)
  const mem = [
    new MemDomain('system', system ?? U64_MAX, MM, true),
    opt('gtt', m.gtt ?? 1n << 30n, gttKind, true),
    opt('vram', m.vram ?? 256n << 20n, vramKind, false),
    ...priv.map((t) => opt(t.name, t.size, t.allocator, t.useTt)),
  ]
  for (let i = 0; i < hops.length; i += 3) {
    const [from, to, via] = [hops[i], hops[i + 1], hops[i + 2]]
    if (from === to || via === from || via === to || via > mem.length) {
      throw new DrmError(
        'EINVAL',
        `a hop ${typeName(from)} -> ${typeName(to)} through ${typeName(via)} is not a detour`,
      )
    }
  }
  return { mem, hops: [...hops] }
}

export const memOf = (d: DevState, domain: number): MemDomain | null => d.mem[domain - 1] ?? null

export function domainStats(d: DevState, domain: number): DomainRecord {
  const m = memOf(d, domain)
  if (m === null) throw new DrmError('EINVAL', `the device has no ${typeName(domain)} manager`)
  const s = m.stats()
  return {
    capacity: m.capacity,
    used: s.used,
    free: s.free,
    largestFree: s.largestFree,
    fragmentation: s.free === 0n ? 0 : 1 - Number(s.largestFree) / Number(s.free),
    lruLen: m.lru.size,
    allocator: m.kind,
    useTt: m.useTt,
  }
}

/** null for an empty buffer; ENOSPC when nothing fits. TOPDOWN takes the highest hole. */
export function domainAlloc(d: DevState, domain: number, size: bigint, topdown: boolean): bigint | null {
  return placeAlloc(d, { domain, flags: topdown ? PL_TOPDOWN : 0 }, size)
}

/** Allocates `size` bytes for one place (its window, CONTIGUOUS, TOPDOWN). */
export function placeAlloc(d: DevState, p: Place, size: bigint): bigint | null {
  const m = memOf(d, p.domain)
  if (m === null) throw new DrmError('ENOSPC', `no ${typeName(p.domain)} manager`)
  return m.allocate(size, p)
}

export function domainFree(d: DevState, domain: number, node: bigint | null): void {
  memOf(d, domain)?.free(node)
}
