/**
 * Plots of a parameter sweep: one panel per measure, the measure against one
 * parameter, one series per combination of the other parameters. Each point
 * is the mean over the seeds, with a whisker from the least to the greatest.
 * The x axis is linear, or logarithmic when the values span 16 times or more
 * (grids double more often than they add); its ticks are the grid's values.
 */
import { DrmError } from '../base/errors.js'
import { PALETTE } from './colors.js'
import { type AxisKind, yAxis } from './scale.js'
import { esc, heading, legend, type LegendEntry, pictureWidth, px, stackSvgs, svgOpen, textWidth } from './svg.js'

/** A point of a series: the parameter's value, and the measure's mean and range over the seeds. */
export interface SweepPoint {
  x: number | string
  mean: number
  min: number
  max: number
}

export interface SweepSeries {
  name: string
  points: SweepPoint[]
}

export interface SweepPanel {
  title: string
  /** How the y axis reads: counts, bytes, or a fraction in [0, 1] shown as %. */
  kind: Exclude<AxisKind, 'percent'>
  series: SweepSeries[]
}

export interface SweepPlot {
  title?: string
  /** The parameter on the x axis. */
  xLabel: string
  /** Its values in grid order (numbers, or names for the engine). */
  xValues: readonly (number | string)[]
  panels: SweepPanel[]
  width?: number
}

const PLOT_HEIGHT = 200

/** Whether numbers this far apart go on a logarithmic axis. */
function isLog(values: readonly (number | string)[]): boolean {
  if (values.length < 2 || !values.every((v) => typeof v === 'number')) return false
  const nums = values as number[]
  return Math.min(...nums) > 0 && Math.max(...nums) / Math.min(...nums) >= 16
}

/** Where each x value goes, as a fraction of the axis: linear, logarithmic, or evenly for names. */
function xScale(values: readonly (number | string)[]): (x: number | string) => number {
  const index = new Map(values.map((v, i) => [v, i]))
  const nums = values.filter((v): v is number => typeof v === 'number')
  if (nums.length !== values.length || nums.length < 2)
    return (x) => (values.length < 2 ? 0.5 : index.get(x)! / (values.length - 1))
  const lo = Math.min(...nums)
  const hi = Math.max(...nums)
  if (hi === lo) return () => 0.5
  if (isLog(values)) return (x) => Math.log(Number(x) / lo) / Math.log(hi / lo)
  return (x) => (Number(x) - lo) / (hi - lo)
}

const label = (v: number | string): string => (typeof v === 'number' ? v.toLocaleString('en-US') : v)

function panel(p: SweepPanel, plot: SweepPlot, width: number): string {
  const left = 16 + 64
  const right = 32
  const inset = 16
  const plotW = width - left - right
  const top = 30
  const h = PLOT_HEIGHT
  let max = 0
  for (const s of p.series) for (const pt of s.points) if (pt.max > max) max = pt.max
  const y = yAxis(p.kind, max)
  const at = xScale(plot.xValues)
  const xOf = (x: number | string) => left + inset + at(x) * (plotW - 2 * inset)
  const yOf = (v: number) => top + h - (v / y.top) * h
  let body = `<text x="16" y="${top - 10}" font-size="14" font-weight="bold" fill="#111111">${esc(p.title)}</text>\n`
  body += `<rect x="${left}" y="${top}" width="${plotW}" height="${h}" fill="#fbfbfb" stroke="#cccccc"/>\n`
  for (const t of y.ticks) {
    const ty = yOf(t.value)
    body += `<line x1="${left}" y1="${px(ty)}" x2="${left + plotW}" y2="${px(ty)}" stroke="#e4e4e4"/>`
    body += `<text x="${left - 6}" y="${px(ty + 3.5)}" text-anchor="end" font-size="10" fill="#555555">${esc(t.label)}</text>\n`
  }
  // The grid's values as ticks, skipping any that would overlap the last one drawn.
  let lastRight = Number.NEGATIVE_INFINITY
  for (const v of plot.xValues) {
    const tx = xOf(v)
    const text = label(v)
    const half = textWidth(text, 10) / 2
    if (tx - half < lastRight + 6) continue
    lastRight = tx + half
    body += `<line x1="${px(tx)}" y1="${top + h}" x2="${px(tx)}" y2="${top + h + 4}" stroke="#666666"/>`
    body += `<text x="${px(tx)}" y="${top + h + 16}" text-anchor="middle" font-size="10" fill="#555555">${esc(text)}</text>\n`
  }
  body += `<text x="${left + plotW}" y="${top + h + 30}" text-anchor="end" font-size="10" fill="#555555">${esc(plot.xLabel)}${isLog(plot.xValues) ? ' (log scale)' : ''}</text>\n`
  p.series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length]
    const pts = [...s.points].sort((a, b) => at(a.x) - at(b.x))
    if (pts.length > 1)
      body += `<polyline points="${pts.map((pt) => `${px(xOf(pt.x))},${px(yOf(pt.mean))}`).join(' ')}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"/>\n`
    for (const pt of pts) {
      const [cx, lo, hi] = [xOf(pt.x), yOf(pt.min), yOf(pt.max)]
      if (pt.max > pt.min) {
        body += `<line x1="${px(cx)}" y1="${px(lo)}" x2="${px(cx)}" y2="${px(hi)}" stroke="${colour}" stroke-width="1.2"/>`
        body += `<line x1="${px(cx - 4)}" y1="${px(lo)}" x2="${px(cx + 4)}" y2="${px(lo)}" stroke="${colour}" stroke-width="1.2"/>`
        body += `<line x1="${px(cx - 4)}" y1="${px(hi)}" x2="${px(cx + 4)}" y2="${px(hi)}" stroke="${colour}" stroke-width="1.2"/>`
      }
      body += `<circle cx="${px(cx)}" cy="${px(yOf(pt.mean))}" r="3" fill="${colour}"/>\n`
    }
  })
  const entries: LegendEntry[] = p.series.map((s, i) => ({ fill: PALETTE[i % PALETTE.length], text: s.name, line: {} }))
  const lg = entries.length > 1 ? legend(entries, left, top + h + 36, plotW) : { svg: '', height: 0 }
  body += lg.svg
  return `${svgOpen(width, top + h + 36 + lg.height + 6) + body}</svg>\n`
}

/** The sweep's plot as one SVG: a heading, then one panel per measure. */
export function renderSweep(plot: SweepPlot): string {
  if (plot.panels.length === 0 || plot.panels.some((p) => p.series.every((s) => s.points.length === 0)))
    throw new DrmError('EINVAL', 'renderSweep: every panel needs a point')
  const width = pictureWidth(plot.width)
  const parts: string[] = []
  if (plot.title) parts.push(`${svgOpen(width, 34) + heading(16, 12, plot.title)}</svg>\n`)
  for (const p of plot.panels) parts.push(panel(p, plot, width))
  return stackSvgs(parts)
}
