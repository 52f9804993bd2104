/**
 * The native engine of the TTM page pools: `PoolCore` over the binding
 * class `NativeTtmPools` (native/napi/pool.rs). This layer only unpacks
 * lists and numbers cachings; every rule lives in Rust.
 */

import type { NativeTtmPools } from '../../index.js'
import {
  CACHINGS,
  POOL_TOTALS,
  type PageCaching,
  type PoolChunkRecord,
  type PoolCore,
  type PoolTotalsRecord,
  type PoolTypeRecord,
} from '../contract/pool.js'
import { call, loadBinding } from './binding.js'

const cachingNumber = (c: PageCaching): number => CACHINGS.indexOf(c)

export class NativePoolsCore implements PoolCore {
  readonly engine = 'native' as const
  readonly #m: NativeTtmPools

  constructor(pagePoolSize: number) {
    const { NativeTtmPools } = loadBinding()
    this.#m = call(() => new NativeTtmPools(pagePoolSize))
  }

  createPool(dmaAlloc: boolean, dma32: boolean): number {
    return call(() => this.#m.createPool(dmaAlloc, dma32))
  }

  fini(pool: number): void {
    call(() => this.#m.fini(pool))
  }

  alloc(pool: number, numPages: number, caching: PageCaching): number {
    return call(() => this.#m.alloc(pool, numPages, cachingNumber(caching)))
  }

  free(tt: number): void {
    call(() => this.#m.free(tt))
  }

  chunks(tt: number): PoolChunkRecord[] {
    const w = call(() => this.#m.chunks(tt))
    const out: PoolChunkRecord[] = []
    for (let i = 0; i < w.length; i += 3) out.push({ order: Number(w[i]), dma: w[i + 1], fromPool: w[i + 2] === 1n })
    return out
  }

  shrink(nrToScan: number): number {
    return call(() => this.#m.shrink(nrToScan))
  }

  selectType(pool: number, caching: PageCaching, order: number): number | null {
    return call(() => this.#m.selectType(pool, cachingNumber(caching), order))
  }

  typeChunks(owner: number, caching: PageCaching, order: number): number {
    return call(() => this.#m.typeChunks(owner, cachingNumber(caching), order))
  }

  types(): PoolTypeRecord[] {
    const w = call(() => this.#m.types())
    const out: PoolTypeRecord[] = []
    for (let i = 0; i < w.length; i += 4) {
      out.push({ owner: w[i], caching: CACHINGS[w[i + 1]], order: w[i + 2], chunks: w[i + 3] })
    }
    return out
  }

  totals(): PoolTotalsRecord {
    const w = call(() => this.#m.totals())
    return Object.fromEntries(POOL_TOTALS.map((k, i) => [k, w[i]])) as unknown as PoolTotalsRecord
  }
}
