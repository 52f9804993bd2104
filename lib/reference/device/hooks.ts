/**
 * Eviction hooks and LRU priorities (native/core/src/device/hooks.rs): a
 * victim is skipped when the policy protects it (priority, tags) or the
 * user's callback refused it (the veto set the public API hands over).
 */
import { DrmError } from '../../base/errors.js'
import { lruTouch } from './lru.js'
import { objectOf } from './objects.js'
import type { Place } from './placement.js'
import { MAX_PRIORITY } from './pressure.js'
import type { DevState } from './state.js'

export function setPriority(d: DevState, id: number, priority: number): void {
  if (!Number.isInteger(priority) || priority < 0 || priority >= MAX_PRIORITY)
    throw new DrmError('EINVAL', `a priority is 0..3, got ${priority}`)
  const o = objectOf(d, id)
  if (o.pressure.priority === priority) return
  o.pressure.priority = priority
  if (o.lru !== null) lruTouch(d, id)
}

export function setEvictionPolicy(d: DevState, protectFromPriority: number, protectTags: number): void {
  if (!Number.isInteger(protectFromPriority) || protectFromPriority < 0 || protectFromPriority > MAX_PRIORITY)
    throw new DrmError('EINVAL', `protectFromPriority is 0..4, got ${protectFromPriority}`)
  d.pressure.protectFromPriority = protectFromPriority
  d.pressure.protectTags = protectTags >>> 0
}

/** `eviction_valuable`: whether the walk may take `victim`. */
export function evictionValuable(d: DevState, victim: number): boolean {
  const p = d.pressure
  // The common case, no policy at all, costs no object lookup.
  if (p.protectFromPriority === MAX_PRIORITY && p.protectTags === 0 && p.veto.size === 0) return true
  const o = d.objects.get(victim)
  if (!o || o.freed) return false
  return o.pressure.priority < p.protectFromPriority && (o.pressure.tags & p.protectTags) === 0 && !p.veto.has(victim)
}

/** A batch of `evict_flags` answers, all checked before any is set. */
export function setEvictPlacements(d: DevState, batch: [number, Place[]][]): void {
  for (const [id] of batch) objectOf(d, id)
  for (const [id, p] of batch) objectOf(d, id).evictPlacement = p
}
