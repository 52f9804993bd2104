/**
 * `drmsim vmbind`: the canonical workload on a chosen engine. The native
 * engine runs the whole workload inside Rust (one boundary crossing); the
 * reference engine runs the same loop in TypeScript.
 */
import type { EngineName } from '../contract/vm.js'
import { engineOf, resolveEngine } from '../engines.js'
import { func, oneOf, options as checkOptions } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import {
  defaultParams,
  runVmbind,
  validateParams,
  vmbindVmOptions,
  type TraceMode,
  type VmbindParams,
} from './vmbind.js'

const TRACE_MODES: readonly TraceMode[] = ['full', 'hash', 'off']

export interface VmbindOptions extends Partial<VmbindParams> {
  engine?: EngineName
  /** 'full': trace and summary; 'hash' (default): the summary; 'off': no trace hash, for timing. */
  trace?: TraceMode
  /** Reference engine only (the native one runs the whole loop in one call): called every 4096 requests with the number done. */
  onProgress?: (done: number) => void
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
      })
    } catch (e) {
      throw DrmError.from(e)
    }
    return { engine, trace: run.trace ?? '', summary: run.summary, loopNs: run.loopNs, params }
  }
  const run = runVmbind(vm(vmbindVmOptions()), params, trace, options.onProgress)
  const lines = run.trace.length ? `${run.trace.join('\n')}\n` : ''
  return { engine, trace: lines, summary: run.text.slice(lines.length), loopNs: run.loopNs, params }
}
