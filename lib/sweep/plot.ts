/**
 * What a sweep's plot shows (render/sweep.ts draws it): the chosen measures
 * against one parameter, one series per combination of the other parameters
 * that vary, each point a grid point's mean and range over its seeds.
 */
import type { SweepPanel, SweepPlot } from '../render/sweep.js'
import { SweepError } from './error.js'
import { FLAG, type ParamName, paramName } from './grid.js'
import { type PointSummary, variedParams } from './summary.js'
import { NUMERIC_MEASURES, type NumericMeasure } from './task.js'

const KIND: Partial<Record<NumericMeasure, SweepPanel['kind']>> = {
  mappedBytes: 'bytes',
  freeBytes: 'bytes',
  largestFree: 'bytes',
  fragmentation: 'fraction',
}

/** `--y`: measures by name, comma-separated. */
export function parseMeasures(text: string): NumericMeasure[] {
  return text.split(',').map((m) => {
    const found = NUMERIC_MEASURES.find((n) => n === m.trim())
    if (found === undefined) throw new SweepError(`--y ${m}: not a measure; one of ${NUMERIC_MEASURES.join(', ')}`)
    return found
  })
}

/** `--x`: the parameter on the x axis; by default the first that varies. */
export function xParam(points: readonly PointSummary[], x: string | undefined): ParamName {
  const vary = variedParams(points)
  if (x !== undefined) {
    const name = paramName(x)
    if (!vary.includes(name))
      throw new SweepError(`--x ${x}: ${FLAG[name]} takes one value in this sweep; plot one that varies`)
    return name
  }
  if (vary.length === 0)
    throw new SweepError('--svg plots a measure against a parameter: this sweep varies none (give --param name=v1,v2)')
  return vary[0]
}

export function sweepPlot(
  points: readonly PointSummary[],
  x: ParamName,
  measures: readonly NumericMeasure[],
  title?: string,
): SweepPlot {
  const others = variedParams(points).filter((p) => p !== x)
  const xValues: (number | string)[] = []
  for (const s of points) if (!xValues.includes(s.params[x])) xValues.push(s.params[x])
  const seriesName = (s: PointSummary): string =>
    others.length ? others.map((p) => `${FLAG[p]}=${s.params[p]}`).join(' ') : 'mean over seeds'
  const names: string[] = []
  for (const s of points) if (!names.includes(seriesName(s))) names.push(seriesName(s))
  const panels = measures.map(
    (m): SweepPanel => ({
      title: `${m} (mean over seeds, bars from least to greatest)`,
      kind: KIND[m] ?? 'count',
      series: names.map((name) => ({
        name,
        points: points.filter((s) => seriesName(s) === name).map((s) => ({ x: s.params[x], ...s.stats[m] })),
      })),
    }),
  )
  return { title, xLabel: FLAG[x], xValues, panels }
}
