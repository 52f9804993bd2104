/**
 * The summary of a sweep's rows: per grid point, the mean, least and
 * greatest over its seeds of the main measures, as a table for people or as
 * JSON. It is made from the rows alone (sums in task order), so a sweep and
 * the merge of its shards print the same summary.
 */
import { FLAG, PARAMS, type ParamName } from './grid.js'
import type { Row } from './rows.js'
import { NUMERIC_MEASURES, type NumericMeasure } from './task.js'

/** The measures the summary shows. */
export const SUMMARY_MEASURES: readonly NumericMeasure[] = ['mappings', 'splits', 'keeps', 'holes', 'fragmentation']

export interface Stat {
  mean: number
  min: number
  max: number
}

export interface PointSummary {
  point: number
  params: Record<ParamName, string | number>
  seeds: number
  stats: Record<NumericMeasure, Stat>
}

/** The rows, in task order, grouped by grid point, each numeric measure reduced over their seeds. */
export function summarize(rows: readonly Row[]): PointSummary[] {
  const measures = NUMERIC_MEASURES
  const out: PointSummary[] = []
  let group: Row[] = []
  const flush = (): void => {
    if (group.length === 0) return
    const first = group[0]
    const stats = {} as Record<NumericMeasure, Stat>
    for (const m of measures) {
      let sum = 0
      let min = Number.POSITIVE_INFINITY
      let max = Number.NEGATIVE_INFINITY
      for (const r of group) {
        sum += r[m]
        min = Math.min(min, r[m])
        max = Math.max(max, r[m])
      }
      stats[m] = { mean: sum / group.length, min, max }
    }
    const params = Object.fromEntries(PARAMS.map((p) => [p, first[p]])) as Record<ParamName, string | number>
    out.push({ point: first.point, params, seeds: group.length, stats })
    group = []
  }
  for (const r of rows) {
    if (group.length && group[0].point !== r.point) flush()
    group.push(r)
  }
  flush()
  return out
}

/** The parameters whose value differs between points, in task order. */
export function variedParams(points: readonly PointSummary[]): ParamName[] {
  return PARAMS.filter((p) => points.some((s) => s.params[p] !== points[0].params[p]))
}

const decimals = (m: NumericMeasure): number => (m === 'fragmentation' ? 4 : 1)

/** A number as the table shows it: a mean to one decimal (fragmentation to four), whole numbers as they are. */
function num(v: number, m: NumericMeasure): string {
  if (Number.isInteger(v) && m !== 'fragmentation') return String(v)
  return v.toFixed(decimals(m))
}

/**
 * The summary as lines of text: the parameters that stay the same, then a
 * table with one line per grid point: the parameters that vary, the seeds,
 * and each measure's mean with its range over the seeds.
 */
export function summaryLines(points: readonly PointSummary[], measures = SUMMARY_MEASURES): string[] {
  if (points.length === 0) return ['no results']
  const vary = variedParams(points)
  const fixed = PARAMS.filter((p) => !vary.includes(p)).map((p) => `${FLAG[p]}=${points[0].params[p]}`)
  const head = [...vary.map((p) => FLAG[p]), 'seeds', ...measures.map((m) => `${m} mean [min, max]`)]
  const body = points.map((s) => [
    ...vary.map((p) => String(s.params[p])),
    String(s.seeds),
    ...measures.map((m) => {
      const st = s.stats[m]
      return `${num(st.mean, m)} [${num(st.min, m)}, ${num(st.max, m)}]`
    }),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < vary.length ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd()
  const seeds = points.reduce((n, s) => n + s.seeds, 0)
  return [
    `${points.length} grid ${points.length === 1 ? 'point' : 'points'}, ${seeds} ${seeds === 1 ? 'run' : 'runs'}; the same for all: ${fixed.join(' ') || '(nothing)'}`,
    line(head),
    ...body.map(line),
  ]
}

/** A point's summary as one JSON object: its index, parameters, seeds, and each measure's mean, min and max. */
export function summaryJson(s: PointSummary): Record<string, unknown> {
  return { point: s.point, ...s.params, seeds: s.seeds, ...s.stats }
}
