/**
 * Plots over time: a run's statistics taken every N requests (`StatsRow`, the
 * flat rows `--stats-every` writes) drawn as line charts, one panel per
 * measure: GPU VA mappings, bytes mapped, steps emitted, memory used per
 * domain (with its capacity), fragmentation, evictions and bytes moved.
 * Round ticks on both axes, none past the data; long series are thinned to
 * what each pixel column shows (its first, lowest, highest and last point).
 */
import { DrmError } from '../base/errors.js'
import { PALETTE } from './colors.js'
import { type AxisKind, numberTicks, yAxis } from './scale.js'
import { esc, heading, legend, type LegendEntry, pictureWidth, px, stackSvgs, svgOpen, textWidth } from './svg.js'

/** A number in a StatsRow: a number, a bigint (u64 bytes) or, as read back from CSV, a decimal string. */
export type StatsValue = number | bigint | string

/**
 * One row of a run's time series, as `--stats-every` writes it (one CSV or
 * JSON Lines row after every N requests): flat columns, each optional but
 * `req`. Counts are totals since the start; the others the state after
 * request `req`. Columns it does not know are ignored.
 */
export interface StatsRow {
  /** The request just done, its index from 0: the x axis. */
  req?: StatsValue
  /** Live GPU VA mappings, every VA space together (the kernel node not counted). */
  mappings?: StatsValue
  /** Bytes mapped. */
  mappedBytes?: StatsValue
  /** Steps emitted so far, by kind; splits and keeps among the remaps. */
  map?: StatsValue
  remap?: StatsValue
  unmap?: StatsValue
  splits?: StatsValue
  keeps?: StatsValue
  /** Bytes in use in each memory domain. */
  vramUsed?: StatsValue
  gttUsed?: StatsValue
  systemUsed?: StatsValue
  /** A domain's size (2^64 - 1, or absent, for an unbounded one). */
  vramCapacity?: StatsValue
  gttCapacity?: StatsValue
  systemCapacity?: StatsValue
  /** 1 - largest free block / free bytes, in [0, 1]. */
  vramFragmentation?: StatsValue
  gttFragmentation?: StatsValue
  /** Buffers evicted so far. */
  evictions?: StatsValue
  /** Buffers evicted by this row's own step (a scenario's rows). */
  stepEvictions?: StatsValue
  /** Bytes copied by moves so far. */
  bytesMoved?: StatsValue
  /** The shrinker: buffers swapped out and purged so far, bytes in swap now. */
  swapouts?: StatsValue
  purges?: StatsValue
  swapUsed?: StatsValue
  [column: string]: unknown
}

export interface StatsRenderOptions {
  /** The heading over the panels. */
  title?: string
  /** Width in pixels (default 960). */
  width?: number
  /** Height of each panel's plot area in pixels (default 140). */
  plotHeight?: number
  /** What `req` counts, under the x axis (default "request (index)"; a scenario's: "step"). */
  xLabel?: string
}

const UNBOUNDED = 2 ** 64 - 1
const DOMAIN_COLOURS = { vram: PALETTE[0], gtt: PALETTE[1], system: PALETTE[2] } as const
const DOMAINS = ['vram', 'gtt', 'system'] as const

interface Series {
  name: string
  colour: string
  /** One value per row; NaN where the row has none. */
  values: number[]
  dash?: string
  /** Drawn as one bar per row (a count per step), not as a line. */
  bars?: boolean
}

type YKind = Exclude<AxisKind, 'fraction'>

/** The points of one series as pixel coordinates, thinned to at most four per pixel column. */
function polyline(xs: number[], ys: number[]): string[] {
  const runs: string[] = []
  let run: string[] = []
  let col = Number.NaN
  let group: [number, number][] = []
  const flush = () => {
    if (group.length === 0) return
    let lo = group[0]
    let hi = group[0]
    for (const p of group) {
      if (p[1] > lo[1]) lo = p // SVG y grows downwards: the largest y is the lowest value
      if (p[1] < hi[1]) hi = p
    }
    const keep = [group[0], ...(lo[0] <= hi[0] ? [lo, hi] : [hi, lo]), group[group.length - 1]]
    let last = ''
    for (const [x, y] of keep) {
      const text = `${px(x)},${px(y)}`
      if (text !== last) run.push(text)
      last = text
    }
    group = []
  }
  for (let i = 0; i < xs.length; i++) {
    if (Number.isNaN(ys[i])) {
      flush()
      if (run.length) runs.push(run.join(' '))
      run = []
      col = Number.NaN
      continue
    }
    const c = Math.round(xs[i])
    if (c !== col) flush()
    col = c
    group.push([xs[i], ys[i]])
  }
  flush()
  if (run.length) runs.push(run.join(' '))
  return runs
}

/** A bar per row with a value above 0, centred on its x, at most 12 px wide. */
function bars(xs: number[], s: Series, yOf: (v: number) => number, slot: number): string {
  const w = Math.max(1, Math.min(12, slot * 0.6))
  let out = ''
  for (let i = 0; i < xs.length; i++) {
    const v = s.values[i]
    if (!(v > 0)) continue
    const top = yOf(v)
    out += `<rect x="${px(xs[i] - w / 2)}" y="${px(top)}" width="${px(w)}" height="${px(yOf(0) - top)}" fill="${s.colour}"/>\n`
  }
  return out
}

/** One panel: a title, the y axis of `kind`, the request axis, the series, and their legend. */
function panel(
  title: string,
  kind: YKind,
  requests: number[],
  series: Series[],
  width: number,
  plotHeight: number,
  xLabel: string,
): string {
  const left = 16 + 64
  const right = 24
  const plotW = width - left - right
  const top = 30
  let max = 0
  for (const s of series) for (const v of s.values) if (v > max) max = v
  const y = yAxis(kind, max)
  const x0 = requests[0]
  const x1 = requests[requests.length - 1]
  const span = x1 > x0 ? x1 - x0 : 1
  const xOf = (r: number) => left + ((r - x0) / span) * plotW
  const yOf = (v: number) => top + plotHeight - (v / y.top) * plotHeight
  let body = `<text x="16" y="${top - 10}" font-size="14" font-weight="bold" fill="#111111">${esc(title)}</text>\n`
  body += `<rect x="${left}" y="${top}" width="${plotW}" height="${plotHeight}" fill="#fbfbfb" stroke="#cccccc"/>\n`
  for (const t of y.ticks) {
    const ty = yOf(t.value)
    body += `<line x1="${left}" y1="${px(ty)}" x2="${left + plotW}" y2="${px(ty)}" stroke="#e4e4e4"/>`
    body += `<text x="${left - 6}" y="${px(ty + 3.5)}" text-anchor="end" font-size="10" fill="#555555">${esc(t.label)}</text>\n`
  }
  const most = Math.max(2, Math.floor(plotW / (textWidth(x1.toLocaleString('en-US'), 10) + 36)))
  // Request indices are whole: no more ticks than requests between the first and the last.
  const xTicks = x1 > x0 ? numberTicks(x0, x1, Math.max(1, Math.min(most, x1 - x0))) : []
  for (const t of xTicks.length ? xTicks : [{ value: x0, label: x0.toLocaleString('en-US') }]) {
    const tx = xOf(t.value)
    const half = textWidth(t.label, 10) / 2
    const anchor = tx - half < left - 2 ? 'start' : tx + half > left + plotW + 2 ? 'end' : 'middle'
    body += `<line x1="${px(tx)}" y1="${top + plotHeight}" x2="${px(tx)}" y2="${top + plotHeight + 4}" stroke="#666666"/>`
    body += `<text x="${px(tx)}" y="${top + plotHeight + 16}" text-anchor="${anchor}" font-size="10" fill="#555555">${esc(t.label)}</text>\n`
  }
  body += `<text x="${left + plotW}" y="${top + plotHeight + 30}" text-anchor="end" font-size="10" fill="#555555">${esc(xLabel)}</text>\n`
  const xs = requests.map(xOf)
  for (const s of series) {
    if (s.bars) {
      body += bars(xs, s, yOf, plotW / Math.max(1, requests.length))
      continue
    }
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : ''
    for (const points of polyline(
      xs,
      s.values.map((v) => (Number.isNaN(v) ? v : yOf(v))),
    )) {
      const one = !points.includes(' ')
      body += one
        ? `<circle cx="${points.split(',')[0]}" cy="${points.split(',')[1]}" r="2.5" fill="${s.colour}"/>\n`
        : `<polyline points="${points}" fill="none" stroke="${s.colour}" stroke-width="2" stroke-linejoin="round"${dash}/>\n`
    }
  }
  const entries: LegendEntry[] = series.map((s) => ({ fill: s.colour, text: s.name, line: { dash: s.dash } }))
  const lg = entries.length > 1 ? legend(entries, left, top + plotHeight + 36, plotW) : { svg: '', height: 0 }
  body += lg.svg
  const height = top + plotHeight + 36 + lg.height + 6
  return `${svgOpen(width, height) + body}</svg>\n`
}

/** A row's value as a number: NaN when absent or not a number. */
function value(row: StatsRow, column: string): number {
  const v = row[column]
  if (typeof v === 'number') return v
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v)
  return Number.NaN
}

/** A panel: its series as [column, name, colour, dash]; `percent` panels scale [0, 1] to %. */
interface PanelSpec {
  title: string
  kind: YKind
  series: [column: string, name: string, colour: string, dash?: string][]
  /** Series drawn only beside others (a capacity): alone they make no panel. */
  beside?: string[]
  /** Counts per row, drawn as bars. */
  bars?: boolean
}

const PANELS: PanelSpec[] = [
  { title: 'GPU VA mappings', kind: 'count', series: [['mappings', 'mappings', PALETTE[0]]] },
  { title: 'Bytes mapped', kind: 'bytes', series: [['mappedBytes', 'mapped', PALETTE[9]]] },
  {
    title: 'Steps emitted so far',
    kind: 'count',
    series: [
      ['map', 'map', PALETTE[2]],
      ['remap', 'remap', PALETTE[4]],
      ['unmap', 'unmap', PALETTE[3]],
      ['splits', 'splits (remaps)', PALETTE[5], '2 3'],
      ['keeps', 'keeps (remaps)', PALETTE[7], '2 3'],
    ],
  },
  ...DOMAINS.map(
    (d): PanelSpec => ({
      title: `${d.toUpperCase()} memory used`,
      kind: 'bytes',
      series: [
        [`${d}Used`, 'used', DOMAIN_COLOURS[d]],
        [`${d}Capacity`, 'capacity', '#555555', '6 4'],
      ],
      beside: [`${d}Capacity`],
    }),
  ),
  {
    title: 'Fragmentation (1 - largest free / free)',
    kind: 'percent',
    series: [
      ['vramFragmentation', 'VRAM', DOMAIN_COLOURS.vram],
      ['gttFragmentation', 'GTT', DOMAIN_COLOURS.gtt],
    ],
  },
  { title: 'Evictions so far', kind: 'count', series: [['evictions', 'evictions', PALETTE[3]]] },
  { title: 'Evictions in each step', kind: 'count', series: [['stepEvictions', 'evictions', PALETTE[3]]], bars: true },
  { title: 'Bytes moved so far', kind: 'bytes', series: [['bytesMoved', 'moved', PALETTE[8]]] },
  { title: 'Swap used', kind: 'bytes', series: [['swapUsed', 'swap', PALETTE[6]]] },
  {
    title: 'Swapouts and purges so far',
    kind: 'count',
    series: [
      ['swapouts', 'swapouts', PALETTE[6]],
      ['purges', 'purges', PALETTE[1], '2 3'],
    ],
  },
]

/**
 * Line charts of `rows` (by `req`), stacked into one SVG, one panel per
 * measure the rows have: mappings, bytes mapped, steps so far by kind,
 * memory used in each domain (its capacity dashed, when the rows give it;
 * one panel each, since SYSTEM's gigabytes would flatten VRAM's megabytes on
 * a shared axis), fragmentation of VRAM and GTT, evictions and bytes moved.
 */
export function renderStats(rows: readonly StatsRow[], options: StatsRenderOptions = {}): string {
  if (!Array.isArray(rows) || rows.length === 0)
    throw new DrmError('EINVAL', 'renderStats needs at least one row of statistics')
  const width = pictureWidth(options.width)
  const plotHeight = Math.max(60, Math.min(1000, Math.trunc(options.plotHeight ?? 140) || 140))
  for (const row of rows)
    if (!Number.isFinite(value(row, 'req')))
      throw new DrmError('EINVAL', `renderStats: each row needs its request index (req), got ${String(row?.req)}`)
  const sorted = [...rows].sort((a, b) => value(a, 'req') - value(b, 'req'))
  const requests = sorted.map((r) => value(r, 'req'))
  const parts: string[] = []
  if (options.title) parts.push(`${svgOpen(width, 34) + heading(16, 12, options.title)}</svg>\n`)
  for (const spec of PANELS) {
    const series: Series[] = []
    for (const [column, name, colour, dash] of spec.series) {
      const scale = spec.kind === 'percent' ? 100 : 1
      const values = sorted.map((r) => {
        const v = value(r, column)
        return spec.kind === 'bytes' && v >= UNBOUNDED ? Number.NaN : v * scale
      })
      if (values.some((v) => !Number.isNaN(v))) series.push({ name, colour, values, dash, bars: spec.bars })
    }
    const beside = new Set(spec.beside)
    if (!series.some((s) => !beside.has(spec.series.find(([, name]) => name === s.name)![0]))) continue
    parts.push(panel(spec.title, spec.kind, requests, series, width, plotHeight, options.xLabel ?? 'request (index)'))
  }
  if (parts.length === (options.title ? 1 : 0))
    throw new DrmError('EINVAL', 'renderStats: the rows have no column it draws (mappings, memory used, ...)')
  return stackSvgs(parts)
}
