/**
 * One task of a sweep: a vmbind run (lib/workloads/vmbind-run.ts) at one
 * grid point and seed, reduced to the measures a result row keeps. The same
 * numbers as `drmsim vmbind --json` gives for those parameters.
 */
import { vmbind } from '../workloads/vmbind-run.js'
import type { Point } from './grid.js'

/** What a task measures, in the row's column order. */
export const MEASURES = [
  'requests',
  'map',
  'remap',
  'unmap',
  'splits',
  'keeps',
  'mappings',
  'mappedBytes',
  'freeBytes',
  'holes',
  'largestFree',
  'fragmentation',
  'traceFnv1a64',
  'stateFnv1a64',
] as const
export type Measure = (typeof MEASURES)[number]

/** The measures that are numbers (the hashes are not): what summaries and plots use. */
export const NUMERIC_MEASURES = MEASURES.filter(
  (m): m is Exclude<Measure, 'traceFnv1a64' | 'stateFnv1a64'> => !m.endsWith('Fnv1a64'),
)
export type NumericMeasure = (typeof NUMERIC_MEASURES)[number]

export type TaskResult = Record<NumericMeasure, number> & { traceFnv1a64: string; stateFnv1a64: string }

export interface TaskOutput {
  result: TaskResult
  /** Nanoseconds in the request loop (timing: never part of a row). */
  loopNs: number
}

/** Fragmentation to four decimals, as `drmsim vmbind --json` gives it. */
const frag = (f: number): number => Math.round(f * 1e4) / 1e4

/**
 * Runs the task's vmbind workload with its details and reduces it to the row's measures; without
 * `traceHash` the trace is not hashed and traceFnv1a64 is empty.
 */
export function runTask(params: Point & { seed: bigint }, traceHash = true): TaskOutput {
  const { engine, ...p } = params
  const out = vmbind({ ...p, engine, trace: traceHash ? 'hash' : 'off', details: true })
  const d = out.details!
  // The hashes and the mapping count from the summary: reading `d.mappings` would make a record per mapping.
  const lines = Object.fromEntries(
    out.summary
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .filter(([k]) => k.endsWith('_fnv1a64') || k === 'mappings'),
  )
  return {
    result: {
      requests: p.ops,
      map: d.map,
      remap: d.remap,
      unmap: d.unmap,
      splits: d.splits,
      keeps: d.keeps,
      mappings: Number(lines.mappings),
      mappedBytes: Number(d.mappedBytes),
      freeBytes: Number(d.freeBytes),
      holes: d.holes,
      largestFree: Number(d.largestFree),
      fragmentation: frag(d.fragmentation),
      traceFnv1a64: lines.trace_fnv1a64 ?? '',
      stateFnv1a64: lines.state_fnv1a64,
    },
    loopNs: out.loopNs,
  }
}
