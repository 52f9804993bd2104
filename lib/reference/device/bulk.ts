/**
 * LRU bulk moves (native/core/src/device/bulk.rs): a VM's buffers that share
 * its reservation keep one range per (domain, priority) and go to the tail
 * together (`ttm_lru_bulk_move_tail`).
 */
import { DrmError } from '../../base/errors.js'
import { MAX_TYPES } from './domain.js'
import { lruBulkTail, lruRemove, lruTouch } from './lru.js'
import { objectOf } from './objects.js'
import { MAX_PRIORITY } from './pressure.js'
import { resvOf } from './resv.js'
import type { DevState } from './state.js'

export function createBulkMove(d: DevState, resv: number): number {
  if (resv !== 0) resvOf(d, resv)
  const p = d.pressure
  p.bulks.push(Array.from({ length: MAX_TYPES }, () => new Array(MAX_PRIORITY).fill(null)))
  const id = p.bulks.length
  if (resv !== 0) {
    const tied = p.resvBulks.get(resv)
    if (tied) tied.push(id)
    else p.resvBulks.set(resv, [id])
  }
  return id
}

function bulkCheck(d: DevState, bulk: number): void {
  if (bulk === 0 || bulk > d.pressure.bulks.length) throw new DrmError('EINVAL', `no bulk move with id ${bulk}`)
}

/** `ttm_bo_set_bulk_move` (0 leaves): joins at the end of the range; leaving goes to the tail. */
export function setBulkMove(d: DevState, id: number, bulk: number): void {
  if (bulk !== 0) bulkCheck(d, bulk)
  const o = objectOf(d, id)
  if (o.pressure.bulk === bulk) return
  const onLru = o.lru !== null
  lruRemove(d, id)
  o.pressure.bulk = bulk
  if (onLru) lruTouch(d, id)
}

export function bulkMoveTail(d: DevState, bulk: number): void {
  bulkCheck(d, bulk)
  lruBulkTail(d, bulk)
}
