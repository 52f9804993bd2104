/**
 * `drmsim vmbind`: the canonical workload on a chosen engine. The native
 * engine runs the whole workload inside Rust (one boundary crossing); the
 * reference engine runs the same loop in TypeScript. With `details`, the run
 * also says what it did beyond the summary (vmbind-detail.ts), counted by
 * either loop as it applies its steps: the native one returns its counts,
 * samples and the mappings left with its summary, still in one crossing.
 */
import type { EngineName } from '../contract/vm.js'
import { engineOf, resolveEngine } from '../engines.js'
import { func, oneOf, options as checkOptions } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import { Wire } from '../contract/wire.gen.js'
import {
  details as detailsOf,
  mappingsOf,
  StepTally,
  packedDetails,
  tallied,
  type SampleOptions,
  type VmbindDetails,
} from './vmbind-detail.js'
import {
  defaultParams,
  runVmbind,
  validateParams,
  vmbindVmOptions,
  type TraceMode,
  type VmbindParams,
} from './vmbind.js'

import {
  type PageTableCost,
  type PageTableOccupancy,
  type PageTableProfile,
  pageTableFromWire,
} from '../contract/pagetable.js'
import { readPageTableProfile } from '../gpuvm/page-table.js'
import { RequestCostTally, requestCostsFromWire, type VmbindRequestCosts } from './vmbind-cost.js'

const TRACE_MODES: readonly TraceMode[] = ['full', 'hash', 'off']

export interface VmbindOptions extends Partial<VmbindParams> {
  engine?: EngineName
  /** 'full': trace and summary; 'hash' (default): the summary; 'off': no trace hash, for timing. */
  trace?: TraceMode
  /** Reference engine only (the native one runs the whole loop in one call): called every 4096 requests with the number done. */
  onProgress?: (done: number) => void
  /**
   * Also return `details`: splits, keeps, the mappings left, the largest,
   * fragmentation. Both engines count them in the run itself; the reference
   * one spends a little more time in `loopNs` for it.
   */
  details?: boolean
  /**
   * With `details`: a sample of the counts after every `every` requests and
   * after the last (the native engine calls `onSample` for each once its run
   * is over, the reference one as it goes).
   */
  samples?: SampleOptions
  /** A page-table cost model (a built-in profile's name or a profile): `cost` in the output. */
  pageTable?: string | PageTableProfile
}

/** What the page-table cost model counted over a whole run. */
export interface VmbindCost {
  profile: PageTableProfile
  total: PageTableCost
  /** The table when the run ended. */
  occupancy: PageTableOccupancy
  /** Each request's cost, summed up: the worst request, the spread of PTE writes. */
  requests: VmbindRequestCosts
}

export interface VmbindOutput {
  engine: EngineName
  /** The trace lines, each ending in a newline ('full' mode only, else ''). */
  trace: string
  /** The summary lines, each ending in a newline. */
  summary: string
  /** Nanoseconds in the request loop. */
  loopNs: number
  params: VmbindParams
  /** With the `details` option. */
  details?: VmbindDetails
  /** With the `pageTable` option. */
  cost?: VmbindCost
}

export function vmbind(opts: VmbindOptions = {}): VmbindOutput {
  const options = checkOptions<VmbindOptions>(opts, 'vmbind options', true)
  const params: VmbindParams = {
    seed: options.seed ?? defaultParams.seed,
    ops: options.ops ?? defaultParams.ops,
    window: options.window ?? defaultParams.window,
    maxPages: options.maxPages ?? defaultParams.maxPages,
    objects: options.objects ?? defaultParams.objects,
    mapPercent: options.mapPercent ?? defaultParams.mapPercent,
  }
  validateParams(params)
  const trace = oneOf(options.trace ?? 'hash', TRACE_MODES, 'trace')
  if (options.onProgress !== undefined) func(options.onProgress, 'onProgress')
  const samples = options.samples
  if (samples !== undefined) {
    if (!Number.isSafeInteger(samples.every) || samples.every < 1)
      throw new DrmError('EINVAL', 'vmbind: samples.every must be a positive integer')
    func(samples.onSample, 'samples.onSample')
  }
  const profile = options.pageTable === undefined ? undefined : readPageTableProfile(options.pageTable)
  const wantDetails = options.details === true || samples !== undefined
  const engine = resolveEngine(options.engine)
  const { vmbindRun, vm } = engineOf(engine)
  if (vmbindRun !== undefined) {
    let run: ReturnType<typeof vmbindRun>
    try {
      run = vmbindRun({
        seed: params.seed,
        ops: BigInt(params.ops),
        window: BigInt(params.window),
        maxPages: BigInt(params.maxPages),
        objects: BigInt(params.objects),
        mapPercent: BigInt(params.mapPercent),
        trace,
        details: wantDetails,
        sampleEvery: samples === undefined ? undefined : BigInt(samples.every),
        pageTable: profile === undefined ? undefined : { ...profile, levels: [...profile.levels] },
      })
    } catch (e) {
      throw DrmError.from(e)
    }
    const out: VmbindOutput = { engine, trace: run.trace ?? '', summary: run.summary, loopNs: run.loopNs, params }
    if (profile && run.cost && run.costRequests) {
      const info = pageTableFromWire(run.cost)
      out.cost = {
        profile,
        total: info.total,
        occupancy: info.occupancy,
        requests: requestCostsFromWire(run.costRequests),
      }
    }
    if (wantDetails) {
      const counts = { map: run.map, remap: run.remap, unmap: run.unmap, splits: run.splits, keeps: run.keeps }
      const words = run.mappings!
      // The details' state hash is left unread here (hashing every mapping's line is a quarter of a sweep
      // task); vmbind-detail.spec.ts checks it against the summary's.
      const d = packedDetails(words, params, counts)
      out.details = checked(d, out.summary, words.length / Wire.BATCH_WORDS, false)
      if (samples) for (const s of run.samples!) samples.onSample(s)
    }
    return out
  }
  const tally = wantDetails ? new StepTally(samples) : undefined
  const core = vm(vmbindVmOptions())
  if (profile) core.attachPageTable(profile)
  const observed = tally ? tallied(core, tally) : core
  // With a page table, each request is a request window of its own.
  const perRequest = profile ? new RequestCostTally() : undefined
  const run = runVmbind(
    observed,
    params,
    trace,
    options.onProgress,
    perRequest && {
      before: () => core.pageTableBeginRequest(),
      after: (i) => {
        const c = core.pageTableCost('last')
        if (c) perRequest.record(i, c)
      },
    },
  )
  const lines = run.trace.length ? `${run.trace.join('\n')}\n` : ''
  const out: VmbindOutput = { engine, trace: lines, summary: run.text.slice(lines.length), loopNs: run.loopNs, params }
  const info = profile ? core.pageTableInfo() : undefined
  if (profile && info && perRequest)
    out.cost = { profile, total: info.total, occupancy: info.occupancy, requests: perRequest.result() }
  if (tally) {
    tally.end(params.ops - 1)
    const d = detailsOf(mappingsOf(core), params, tally)
    out.details = checked(d, out.summary, d.mappings.length, true)
  }
  return out
}

/**
 * The details describe the run the summary does (same counts and mapping count; with `hashed`, the same
 * final state by its hash), or this is a bug.
 */
function checked(d: VmbindDetails, summary: string, mappings: number, hashed: boolean): VmbindDetails {
  const counts = `ops map=${d.map} remap=${d.remap} unmap=${d.unmap}\nmappings ${mappings}\n`
  if (!summary.includes(counts) || (hashed && !summary.endsWith(`state_fnv1a64 ${d.stateFnv1a64}\n`))) {
    throw new Error(
      `vmbind: the details describe another run (${JSON.stringify(counts)}) than the summary:\n${summary}`,
    )
  }
  return d
}
