/**
 * An object's resource (native/core/src/device/resource.rs): what placement
 * asks of it (`ttm_resource_compatible`, `intersects`, TEMPORARY), what it
 * reports, and objects created without one.
 */
import type { ResourceRecord } from '../../contract/device.js'
import { domainFree, memOf } from './domain.js'
import { type Place, PL_TEMPORARY } from './manager.js'
import { objectOf } from './objects.js'
import { lruRemove } from './lru.js'
import { type DevState, SYSTEM } from './state.js'

export function resCompatible(d: DevState, id: number, p: Place): boolean {
  const o = objectOf(d, id)
  return memOf(d, o.domain)?.compatible(o.node, p) ?? false
}

export function resIntersects(d: DevState, id: number, p: Place): boolean {
  const o = objectOf(d, id)
  return o.domain === p.domain && (memOf(d, o.domain)?.intersects(o.node, p) ?? false)
}

export function resTemporary(d: DevState, id: number): boolean {
  const o = objectOf(d, id)
  const m = memOf(d, o.domain)
  return !o.purged && m !== null && (m.resFlags(o.node) & PL_TEMPORARY) !== 0
}

export function resourceInfo(d: DevState, id: number): ResourceRecord | null {
  const o = objectOf(d, id)
  const m = memOf(d, o.domain)
  if (o.purged || m === null) return null
  return { domain: o.domain, flags: m.resFlags(o.node), blocks: m.blocks(o.node).flat() }
}

/** Takes the resource a new object was given away: nothing allocated, on no LRU. */
export function unback(d: DevState, id: number): void {
  const o = objectOf(d, id)
  lruRemove(d, id)
  domainFree(d, SYSTEM, o.node)
  o.node = null
  o.purged = true
}
