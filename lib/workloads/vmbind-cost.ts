/**
 * Per-request page-table costs of a vmbind run (`drmsim vmbind --cost`): the
 * worst request and how the PTE writes spread over the requests, kept
 * exactly (each distinct count and how many requests wrote it) by both
 * engines (native/core/src/pagetable/requests.rs for the native one, the
 * tally here for the reference loop), then drawn as percentiles and a
 * power-of-two histogram.
 */
import { costFromWire, type PageTableCost, zeroCost } from '../contract/pagetable.js'

/** Each request's cost over a run, summed up. */
export interface VmbindRequestCosts {
  /** The request with the most PTE writes (the first of equals); -1 without requests. */
  worstRequest: number
  worst: PageTableCost
  /** `[PTE writes, requests that wrote that many]`, by increasing writes. */
  pteSpread: [number, number][]
}

/** The reference loop's tally (requests.rs's `RequestCosts`). */
export class RequestCostTally {
  #worstRequest = -1
  #worst = zeroCost()
  readonly #spread = new Map<number, number>()

  record(index: number, c: PageTableCost): void {
    if (this.#worstRequest < 0 || c.pteWrites > this.#worst.pteWrites) {
      this.#worstRequest = index
      this.#worst = c
    }
    this.#spread.set(c.pteWrites, (this.#spread.get(c.pteWrites) ?? 0) + 1)
  }

  result(): VmbindRequestCosts {
    const pteSpread = [...this.#spread].sort((a, b) => a[0] - b[0])
    return { worstRequest: this.#worstRequest, worst: { ...this.#worst }, pteSpread }
  }
}

/** The binding's record (native/napi/pagetable.rs `PtRequests`). */
export function requestCostsFromWire(w: {
  worstRequest: number
  worst: { counts: number[]; tlbBytes: bigint }
  pteSpread: number[]
}): VmbindRequestCosts {
  const pteSpread: [number, number][] = []
  for (let i = 0; i + 1 < w.pteSpread.length; i += 2) pteSpread.push([w.pteSpread[i], w.pteSpread[i + 1]])
  return { worstRequest: w.worstRequest, worst: costFromWire(w.worst), pteSpread }
}

/** PTE writes per request: nearest-rank percentiles and the largest. */
export interface PteWritesSpread {
  p50: number
  p90: number
  p99: number
  max: number
  /** Requests by PTE writes in power-of-two bins: `[lo, hi]` inclusive (0, 1, 2-3, 4-7, ...), empty bins left out. */
  histogram: { lo: number; hi: number; requests: number }[]
}

/** The percentiles and histogram of a spread (all zero without requests). */
export function pteWritesSpread(spread: readonly [number, number][]): PteWritesSpread {
  const n = spread.reduce((s, [, k]) => s + k, 0)
  const percentile = (p: number): number => {
    const rank = Math.max(1, Math.ceil((p / 100) * n))
    let seen = 0
    for (const [v, k] of spread) {
      seen += k
      if (seen >= rank) return v
    }
    return 0
  }
  const bins = new Map<number, number>()
  for (const [v, k] of spread) {
    const lo = v === 0 ? 0 : 2 ** Math.floor(Math.log2(v))
    bins.set(lo, (bins.get(lo) ?? 0) + k)
  }
  const histogram = [...bins].map(([lo, requests]) => ({ lo, hi: lo === 0 ? 0 : 2 * lo - 1, requests }))
  return {
    p50: percentile(50),
    p90: percentile(90),
    p99: percentile(99),
    max: spread.length > 0 ? spread[spread.length - 1][0] : 0,
    histogram,
  }
}
