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
 *
 * A line's values go into the batch as 32-bit halves (`BindBatch.pushHalves`):
 * parsing each into a BigInt cost more than the rest of the line's reading.
 */
import { DrmBatchError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import { BindBatch } from '../gpuvm/batch.js'
import { BATCH_MAP, BATCH_UNMAP } from '../contract/vm.js'
import { plainMatch } from './fast-lines.js'
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

/** A long u64 is read as a BigInt and its halves read back from this word. */
const word = new BigUint64Array(1)
const wordHalves = new Uint32Array(word.buffer)
const LOW = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1

/**
 * The u64 a plain line's value names (`0x` and 1-16 hex digits, or 1-19
 * decimal ones: the schema's form) as its high and low halves at `v[k]`,
 * `v[k + 1]`. Up to 15 characters (below 2^53) it is read as a number, exactly.
 */
function u64Halves(text: string, v: Float64Array, k: number): void {
  if (text.length <= 15) {
    const n = Number(text)
    const hi = Math.floor(n / 2 ** 32)
    v[k] = hi
    v[k + 1] = n - hi * 2 ** 32
  } else {
    word[0] = BigInt(text)
    v[k] = wordHalves[1 - LOW]
    v[k + 1] = wordHalves[LOW]
  }
}

/** The runs of one replay: its state, its batch (kept from run to run) and the run's size limit. */
export class PlainRuns {
  readonly #r: ReplayState
  readonly #maxLineBytes: number
  readonly #size: number
  readonly #batch: BindBatch
  /** Whether the last `apply` stopped at a line that failed. */
  failed = false
  /** A request's addr, range and offset as 32-bit halves, high first (for every line). */
  readonly #values = new Float64Array(6)

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
    const first = this.#match(lines[from])
    if (first === null) return 0
    const vmName = first[1]
    const named = r.vms.get(vmName)
    if (named === undefined) return 0
    const vm = named.value
    if (vm.resvObject !== null || r.driver.pageTable !== undefined || vm.warnings.length !== 0) return 0
    const batch = this.#batch
    const end = Math.min(to, from + this.#size)
    let lastName: string | null = null
    let lastObj: GemObject | null = null
    const v = this.#values
    for (let i = from, m = first; ; ) {
      // Groups (fast-lines.ts): vm, addr, range, then for a bind obj, `null`, offset.
      u64Halves(m[2], v, 0)
      u64Halves(m[3], v, 2)
      // addr + range past 2^64: left to the one-line way (see above).
      if (v[0] + v[2] + (v[1] + v[3] >= 2 ** 32 ? 1 : 0) >= 2 ** 32) break
      let obj: GemObject | null = null
      if (m.length === 4) v[4] = v[5] = 0
      else {
        const name = m[4]
        if (name !== undefined) {
          if (name !== lastName) {
            const o = r.objs.get(name)
            if (o === undefined) break
            lastName = name
            lastObj = o.value
          }
          obj = lastObj
        }
        if (m[6] === undefined) v[4] = v[5] = 0
        else u64Halves(m[6], v, 4)
      }
      batch.pushHalves(m.length === 4 ? BATCH_UNMAP : BATCH_MAP, obj, v)
      if (++i === end) break
      const next = this.#match(lines[i])
      if (next === null || next[1] !== vmName) break
      m = next
    }
    const n = batch.length
    if (n === 0) return 0
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
    const rest: ReplayRecord = {
      request: { op: 'bind', line: lines[from].line },
      steps: [],
      result: {},
      violations: [],
      warnings: [],
    }
    r.settle(rest)
    r.collect(rest)
    if (applied === n) r.warnings(vm, rest)
    return applied
  }

  /** A plain line's match, if the one-line path would read it as one. */
  #match({ text }: Line): RegExpExecArray | null {
    return text.length > this.#maxLineBytes ? null : plainMatch(text)
  }

  #count(c: { map: number; remap: number; unmap: number }): void {
    const ops = this.#r.s.ops
    ops.map += c.map
    ops.remap += c.remap
    ops.unmap += c.unmap
  }
}
