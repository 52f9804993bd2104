/**
 * ttm-pool: the device's tts drawn from TTM page pools, as
 * native/core/src/device/tt_pool.rs (see there for when a tt is populated
 * and unpopulated). Without a pool every hook is one null test.
 */

import { DrmError } from '../../base/errors.js'
import { CACHINGS, MAX_TT_PAGES, type PageCaching } from '../../contract/pool.js'
import { memOf } from './domain.js'
import { ReferencePools } from './pool.js'
import { type DevState, SYSTEM } from './state.js'

export interface TtPool {
  readonly mgr: ReferencePools
  readonly pool: number
  readonly caching: PageCaching
  /** Populated tts by object id. */
  readonly tts: Map<number, number>
}

export function poolSetup(d: DevState, dmaAlloc: boolean, dma32: boolean, caching: number, pagePoolSize: number): void {
  if (!Number.isSafeInteger(pagePoolSize) || pagePoolSize < 0) {
    throw new DrmError('EINVAL', 'pagePoolSize must be a safe non-negative integer')
  }
  const c = CACHINGS[caching]
  if (c === undefined) throw new DrmError('EINVAL', `unknown caching ${caching}`)
  if (d.ttPool !== null) throw new DrmError('EEXIST', 'the device already has a page pool')
  const mgr = new ReferencePools(pagePoolSize)
  d.ttPool = { mgr, pool: mgr.createPool(dmaAlloc, dma32), caching: c, tts: new Map() }
}

/** After a move: populate in a tt type other than SYSTEM, unpopulate outside one. */
export function ttAfterMove(d: DevState, id: number, to: number): void {
  const p = d.ttPool
  if (p === null) return
  const useTt = memOf(d, to)?.useTt ?? false
  const size = d.objects.get(id)?.size ?? 0n
  if (!useTt) {
    ttUnpopulate(d, id)
  } else if (to !== SYSTEM && !p.tts.has(id) && size > 0n) {
    const pages = (size + 4095n) / 4096n
    // Only a tt of more than MAX_TT_PAGES fails: it stays unpopulated.
    if (pages <= BigInt(MAX_TT_PAGES)) p.tts.set(id, p.mgr.alloc(p.pool, Number(pages), p.caching))
  }
}

/** Purge, swap-out, free: the tt's chunks go back to the pool. */
export function ttUnpopulate(d: DevState, id: number): void {
  const p = d.ttPool
  if (p === null) return
  const tt = p.tts.get(id)
  if (tt === undefined) return
  p.tts.delete(id)
  p.mgr.free(tt)
}
