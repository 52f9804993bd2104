/**
 * Runs of plain `bind`/`unbind` lines (fast-lines.ts) applied in one engine
 * call (`GpuVm.bindBatch`) instead of one call a line, when nothing can look
 * between two lines of the run: the replay has no `onRecord` and its records
 * are discarded (`Replayer.discardRecords`), so a line's only traces are the
 * summary's counters, its error and the state it leaves.
 *
 * A run is consecutive plain lines naming one VA space that the one-call path
 * (`quickBind`) would take: not a drm_gpuvm with a reservation, no
 * page-table model, no warnings pending, every object name known. It also
 * stops before a range that overflows u64, the one request that warns (it is
 * refused, in the seed's era, with a warning): so a run's requests warn about
 * nothing. A request that fails changes nothing (its range is checked before
 * any step), so when one fails the batch stops there, the lines before it
 * stay applied, and the failing line goes the one-line way, which fails it
 * again with its own error, line and warnings.
 */
import { DrmBatchError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import { BindBatch } from '../gpuvm/batch.js'
import type { MapRequest } from '../gpuvm/gpuvm.js'
import { plainBindLine } from './fast-lines.js'
import type { ReplayRecord } from './record.js'
import type { ReplayState } from './state.js'

/** Most lines of a run (one engine call each): bounds the batch's memory. */
export const RUN_LINES = 1024

/** One line of a replay: its text, its 1-based number, whether a newline ended it. */
export interface Line {
  text: string
  line: number
  terminated: boolean
}

/** The end of u64: a range reaching past it overflows. */
const U64_END = 1n << 64n

export class PlainRuns {
  readonly #r: ReplayState
  readonly #maxLineBytes: number
  readonly #size: number
  readonly #batch: BindBatch
  /** Whether the last `apply` stopped at a line that failed. */
  failed = false
  /** The request handed to the batch (it copies it): one object for every line. */
  readonly #request: MapRequest = { addr: 0n, range: 0n, obj: null, offset: 0n }

  constructor(r: ReplayState, maxLineBytes: number, size = RUN_LINES) {
    this.#r = r
    this.#maxLineBytes = maxLineBytes
    this.#size = size
    this.#batch = new BindBatch(size)
  }

  /**
   * Applies the run of plain lines that starts at `lines[from]` (`to`
   * excluded) in one engine call; returns how many lines it applied and
   * counted. The line after those is the caller's to feed the one-line way
   * when none were applied, or when one failed (`failed`).
   */
  apply(lines: readonly Line[], from: number, to: number): number {
    const r = this.#r
    this.failed = false
    const first = this.#plain(lines[from])
    if (first === undefined) return 0
    const named = r.vms.get(first.vm!)
    if (named === undefined) return 0
    const vm = named.value
    if (vm.resvObject !== null || r.driver.pageTable !== undefined || vm.warnings.length !== 0) return 0
    const batch = this.#batch
    const request = this.#request
    const end = Math.min(to, from + this.#size)
    let lastName: string | null = null
    let lastObj: GemObject | null = null
    let i = from
    for (let req = first; ; ) {
      if (req.addr! + req.range! >= U64_END) break
      if (req.op === 'unbind') batch.unmap(req.addr!, req.range!)
      else {
        let obj: GemObject | null = null
        if (req.obj != null) {
          if (req.obj !== lastName) {
            const o = r.objs.get(req.obj)
            if (o === undefined) break
            lastName = req.obj
            lastObj = o.value
          }
          obj = lastObj
        }
        request.addr = req.addr!
        request.range = req.range!
        request.obj = obj
        request.offset = req.offset ?? 0n
        batch.map(request)
      }
      if (++i === end) break
      const next = this.#plain(lines[i])
      if (next === undefined || next.vm !== first.vm) break
      req = next
    }
    const n = batch.length
    if (n === 0) return 0
    request.obj = null
    let applied = n
    try {
      this.#count(vm.bindBatch(batch))
    } catch (err) {
      if (!(err instanceof DrmBatchError)) throw err
      applied = err.index
      this.failed = true
      this.#count(err.applied)
      // The failed request's warnings: the one-line way records its own when it runs it again.
      vm.takeWarnings()
    } finally {
      batch.clear()
    }
    r.s.requests += applied
    // What the lines left (none of it expected: see above), counted as their records would count it.
    const rest: ReplayRecord = { request: first, steps: [], result: {}, violations: [], warnings: [] }
    r.settle(rest)
    r.collect(rest)
    if (applied === n) r.warnings(vm, rest)
    return applied
  }

  /** A plain line's request, if the one-line path would read it as one. */
  #plain({ text, line }: Line) {
    return text.length > this.#maxLineBytes ? undefined : plainBindLine(text, line)
  }

  #count(c: { map: number; remap: number; unmap: number }): void {
    const ops = this.#r.s.ops
    ops.map += c.map
    ops.remap += c.remap
    ops.unmap += c.unmap
  }
}
