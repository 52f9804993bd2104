/**
 * GEM objects: refcounts, pin counts and domain, vmap use counts, mappings
 * that remember the placement generation, era profiles
 * (native/core/src/device/gem.rs).
 */
import type { MappingRecord } from '../../contract/device.js'
import { DrmError } from '../../base/errors.js'
import { copyAccessCheck, delayDestroy } from './copy.js'
import { domainAlloc, domainFree } from './domain.js'
import { dmemCreated, dmemFreed } from './dmem.js'
import { lruRemove, lruTouch, resvUserAdd, resvUserRemove } from './lru.js'
import { place } from './placement.js'
import { objPressure } from './pressure.js'
import { swapAlloc, swapForget } from './swap.js'
import { ttUnpopulate } from './tt-pool.js'
import { objectOf, objectRecord, relocate } from './objects.js'
import { createResv, heldBy, resvOf } from './resv.js'
import {
  type DevState,
  DOMAIN_NAMES,
  type Obj,
  PROFILE_2019,
  PROFILE_2024,
  PROFILE_SHMEM,
  SYSTEM,
  U32_MAX,
  U64_MAX,
  VRAM,
} from './state.js'
import type { ViolationKind } from './violation.js'

const KVA_BASE = 0xffff_c900_0000_0000n
const KMAP = 1
const name = (domain: number) => DOMAIN_NAMES[domain]

export function createObject(d: DevState, id: number, size: bigint, resv: number, profile: number): void {
  if (id === 0) throw new DrmError('EINVAL', 'GEM object id 0 is reserved')
  const old = d.objects.get(id)
  if (old && !old.freed) throw new DrmError('EEXIST', `GEM object ${id} exists`)
  let r = resv
  if (resv !== 0) resvOf(d, resv)
  // New buffers start in system memory, which may be bounded.
  let node: bigint | null
  try {
    node = domainAlloc(d, SYSTEM, size, false)
  } catch (e) {
    if (!(e instanceof DrmError && e.errno === 'ENOSPC')) throw e
    // ttm-lru: a shrinker may make room (swap.ts).
    const n = swapAlloc(d, size, false)
    if (n === undefined) throw new DrmError('ENOMEM', `no system memory for GEM object ${id} (${size} bytes)`)
    node = n
  }
  if (resv === 0) {
    try {
      r = createResv(d, id)
    } catch (e) {
      domainFree(d, SYSTEM, node)
      throw e
    }
  }
  // Map insertion order is not id order; objects() sorts.
  d.objects.delete(id)
  d.objects.set(id, {
    size,
    refcount: 1,
    resv: r,
    ownResv: resv === 0,
    profile,
    pinCount: 0,
    pinDomain: 0,
    vmapCount: 0,
    domain: SYSTEM,
    generation: 0n,
    freed: false,
    node,
    purged: false,
    populated: false,
    lru: null,
    evictPlacement: null,
    pressure: objPressure(),
  })
  resvUserAdd(d, r, id)
  lruTouch(d, id)
  dmemCreated(d)
}

export type ObjLike = Obj
export { objectOf, objectRecord, relocate }

export function get(d: DevState, id: number): number {
  const o = objectOf(d, id)
  if (o.refcount === U32_MAX) throw new DrmError('EINVAL', `GEM object ${id}: refcount overflow`)
  return ++o.refcount
}

export function put(d: DevState, id: number, vaMappings: number): boolean {
  const o = objectOf(d, id)
  o.refcount -= 1
  if (o.refcount > 0) return false
  o.freed = true
  const node = o.node
  o.node = null
  lruRemove(d, id)
  swapForget(d, id)
  ttUnpopulate(d, id)
  const delayed = delayDestroy(d, id, o.resv, o.domain, node)
  if (!delayed) domainFree(d, o.domain, node)
  // dmem: a range that waits for its fences keeps its charge until it is freed (copy.ts).
  const charge = dmemFreed(d, id, delayed)
  if (delayed && d.copy !== null) d.copy.pending[d.copy.pending.length - 1].charge = charge
  resvUserRemove(d, o.resv, id)
  if (vaMappings > 0) {
    d.violate('free-while-va-mapped', id, `GEM object ${id} freed with ${vaMappings} GPU VA mapping(s)`)
  }
  if (o.vmapCount > 0) {
    d.violate('free-while-vmapped', id, `GEM object ${id} freed with vmap use count ${o.vmapCount}`)
  }
  if (o.pinCount > 0) d.violate('free-while-pinned', id, `GEM object ${id} freed with pin count ${o.pinCount}`)
  return true
}

function requireLock(d: DevState, thread: number, id: number, kind: ViolationKind, what: string): boolean {
  const o = objectOf(d, id)
  if (heldBy(d, o.resv, thread)) return true
  d.violate(kind, id, `${what} of GEM object ${id} without its reservation lock (thread ${thread})`)
  return false
}

export function pin(d: DevState, thread: number, id: number, domain: number): number {
  const o = objectOf(d, id)
  if (o.pinCount === U32_MAX) throw new DrmError('EINVAL', `GEM object ${id}: pin count overflow`)
  requireLock(d, thread, id, 'pin-unlocked', 'pin_locked')
  const want = o.profile === PROFILE_SHMEM || domain === 0 ? 0 : domain
  if (o.pinCount > 0) {
    if (want !== 0 && want !== o.pinDomain) {
      const p = name(o.pinDomain)
      d.violate('repin-other-domain', id, `GEM object ${id} pinned in ${p} again with ${name(want)}: it stays in ${p}`)
    }
  } else {
    const target = want === 0 ? o.domain : want
    if (target !== o.domain || (o.purged && want !== 0)) {
      // Place it first (evicting if need be); a failure leaves it unpinned.
      place(d, thread, id, [{ domain: target, flags: 0 }], { moved: false, bytesMoved: 0n, evictions: 0 })
    }
    o.pinDomain = target
  }
  return pinCounted(d, id)
}

/** Counts a pin; the first takes the buffer off its LRU. */
function pinCounted(d: DevState, id: number): number {
  const o = objectOf(d, id)
  o.pinCount += 1
  if (o.pinCount === 1) lruRemove(d, id)
  return o.pinCount
}

export function unpin(d: DevState, thread: number, id: number): number {
  objectOf(d, id)
  requireLock(d, thread, id, 'unpin-unlocked', 'unpin_locked')
  return unpinCounted(d, id)
}

function unpinCounted(d: DevState, id: number): number {
  const o = objectOf(d, id)
  if (o.pinCount === 0) {
    d.violate('unpin-unpinned', id, `GEM object ${id} unpinned while not pinned`)
    return 0
  }
  o.pinCount -= 1
  if (o.pinCount === 0) {
    // ttm_bo_unpin: back on the LRU, at the tail.
    o.pinDomain = 0
    lruTouch(d, id)
  }
  return o.pinCount
}

function mapping(d: DevState, id: number): MappingRecord {
  const o = objectOf(d, id)
  const addr = (KVA_BASE + (BigInt(id) << 24n) + ((o.generation << 12n) & U64_MAX)) & U64_MAX
  return { addr, iomem: o.domain === VRAM, generation: o.generation }
}

export function vmap(d: DevState, thread: number, id: number, kind: number): MappingRecord {
  const o = objectOf(d, id)
  if (kind === KMAP && o.profile !== PROFILE_2019) {
    throw new DrmError('EINVAL', 'kmap is the 2019 gem-vram interface; use vmap')
  }
  if (o.vmapCount === U32_MAX || o.pinCount === U32_MAX) {
    throw new DrmError('EINVAL', `GEM object ${id}: use count overflow`)
  }
  if (o.profile === PROFILE_2019) {
    // The private kmap lock stands in for the resv lock; vmap pins where it is.
    if (kind !== KMAP) {
      if (o.pinCount === 0) o.pinDomain = o.domain
      pinCounted(d, id)
    }
  } else if (o.profile === PROFILE_2024) {
    requireLock(d, thread, id, 'vmap-unlocked', 'vmap_locked')
  } else {
    requireLock(d, thread, id, 'vmap-unlocked', 'vmap_locked')
    if (o.vmapCount === 0) {
      if (o.pinCount === 0) o.pinDomain = SYSTEM
      pinCounted(d, id)
    }
  }
  o.vmapCount += 1
  return mapping(d, id)
}

export function vunmap(d: DevState, thread: number, id: number, kind: number): number {
  const o = objectOf(d, id)
  if (kind === KMAP && o.profile !== PROFILE_2019) {
    throw new DrmError('EINVAL', 'kunmap is the 2019 gem-vram interface; use vunmap')
  }
  if (o.profile !== PROFILE_2019) requireLock(d, thread, id, 'vunmap-unlocked', 'vunmap_locked')
  const vmaps = o.vmapCount
  if (vmaps === 0) {
    d.violate('vunmap-unbalanced', id, `GEM object ${id} vunmapped with use count 0`)
    return 0
  }
  o.vmapCount -= 1
  if (o.profile === PROFILE_2019 && kind !== KMAP) unpinCounted(d, id)
  else if (o.profile === PROFILE_SHMEM && vmaps === 1) unpinCounted(d, id)
  return vmaps - 1
}

export function access(d: DevState, thread: number, id: number, generation: bigint): boolean {
  const o = objectOf(d, id)
  let ok = true
  if (generation !== o.generation) {
    ok = false
    d.violate(
      'stale-mapping',
      id,
      `GEM object ${id}: mapping of generation ${generation} used after a move (now ${o.generation})`,
    )
  }
  if (o.vmapCount === 0) {
    ok = false
    d.violate('unmapped-access', id, `GEM object ${id}: mapping used after its last vunmap`)
  }
  if (o.pinCount === 0 && !heldBy(d, o.resv, thread)) {
    ok = false
    d.violate(
      'unprotected-access',
      id,
      `GEM object ${id}: mapping used by thread ${thread} with neither the resv lock nor a pin`,
    )
  }
  return copyAccessCheck(d, id) && ok
}

export function moveTo(d: DevState, thread: number, id: number, to: number): boolean {
  const o = objectOf(d, id)
  if (o.profile === PROFILE_SHMEM && to !== SYSTEM) {
    throw new DrmError('EINVAL', `GEM object ${id}: shmem pages live in system memory`)
  }
  if (o.pinCount > 0 && to !== o.domain) throw new DrmError('EINVAL', `GEM object ${id} is pinned in ${name(o.domain)}`)
  requireLock(d, thread, id, 'move-unlocked', 'move')
  const st = { moved: false, bytesMoved: 0n, evictions: 0 }
  place(d, thread, id, [{ domain: to, flags: 0 }], st)
  return st.moved
}
