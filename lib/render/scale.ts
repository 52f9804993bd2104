/**
 * Axes of the pictures: byte sizes as text (filesize, IEC units), round ticks
 * for numbers (d3-array) and round ticks for u64 addresses and offsets, whose
 * steps are powers of two so that their hex or byte labels stay short.
 * Every tick lies inside the range asked for.
 */
import { ticks as d3Ticks, nice, tickStep } from 'd3-array'
import type { filesize as Filesize, FilesizeOptions } from 'filesize' with { 'resolution-mode': 'import' }

// filesize's declarations belong to its ES module build (a "type": "module" package), which tsc will not let a
// CommonJS module import; its CommonJS build, the package's "require" export, is the same function.
const { filesize } = require('filesize') as { filesize: typeof Filesize }

const IEC: FilesizeOptions = { base: 2, standard: 'iec', round: 1 }
const IEC_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const

/** Bytes in IEC units with up to one decimal: `0 B`, `1023 B`, `1.5 KiB`, `16 MiB`, `16 EiB`. */
export function bytes(n: bigint | number): string {
  return filesize(n, IEC)
}

/** A tick: its value and the label drawn under it. */
export interface Tick<T> {
  value: T
  label: string
}

/**
 * Round ticks for a u64 range [from, to]: the multiples of the smallest power
 * of two that leaves at most `maxTicks` intervals in the range, all of them
 * within it (none past `to`).
 */
export function pow2Ticks(from: bigint, to: bigint, maxTicks: number): bigint[] {
  if (to < from) return []
  const most = BigInt(Math.max(1, Math.trunc(maxTicks)))
  let step = 1n
  while ((to - from) / step > most) step <<= 1n
  const out: bigint[] = []
  for (let t = ((from + step - 1n) / step) * step; t <= to; t += step) out.push(t)
  return out
}

/** Round ticks for a number range [lo, hi] (1, 2 or 5 times a power of ten), at most about `count`. */
export function numberTicks(lo: number, hi: number, count: number): Tick<number>[] {
  if (!(hi > lo)) return [{ value: lo, label: formatNumber(lo, 1) }]
  const step = Math.abs(tickStep(lo, hi, count))
  return d3Ticks(lo, hi, count).map((value) => ({ value, label: formatNumber(value, step) }))
}

/**
 * Round ticks for a byte range [0, hi]: round numbers of the largest IEC unit
 * that `hi` reaches (0, 2 MiB, 4 MiB, ...), at most about `count`.
 */
export function byteTicks(hi: number, count: number): Tick<number>[] {
  if (!(hi > 0)) return [{ value: 0, label: '0' }]
  const exponent = Math.min(IEC_UNITS.length - 1, Math.max(0, Math.floor(Math.log2(hi) / 10)))
  const unit = 2 ** (10 * exponent)
  const step = Math.abs(tickStep(0, hi / unit, count))
  const round = Math.max(0, -Math.floor(Math.log10(step) + 1e-9))
  return d3Ticks(0, hi / unit, count).map((v) => ({
    value: v * unit,
    label: v === 0 ? '0' : filesize(v * unit, { ...IEC, exponent, round }),
  }))
}

/** A number with as many decimals as its tick step needs, thousands grouped: 1,250 or 0.25. */
function formatNumber(value: number, step: number): string {
  const decimals = step >= 1 ? 0 : Math.min(6, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)))
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
}

/** What a plot's y axis shows: counts, bytes, percentages (0-100) or fractions (0-1, labelled as percentages). */
export type AxisKind = 'count' | 'bytes' | 'percent' | 'fraction'

/** The y axis [0, top] of a plot for values up to `max`: a round top and its ticks. */
export function yAxis(kind: AxisKind, max: number): { top: number; ticks: Tick<number>[] } {
  if (kind === 'percent' || kind === 'fraction') {
    const scale = kind === 'percent' ? 1 : 100
    const top = max * scale > 100 ? nice(0, max * scale, 5)[1] : 100
    return {
      top: top / scale,
      ticks: numberTicks(0, top, 5).map((t) => ({ value: t.value / scale, label: `${t.label}%` })),
    }
  }
  if (kind === 'bytes') {
    if (!(max > 0)) return { top: 1, ticks: byteTicks(0, 5) }
    const unit = 2 ** (10 * Math.min(6, Math.floor(Math.log2(max) / 10)))
    const top = nice(0, max / unit, 5)[1] * unit
    return { top, ticks: byteTicks(top, 5) }
  }
  const top = max > 0 ? nice(0, max, 5)[1] : 1
  // Counts are whole: a small top gets a tick per unit, never 0.5.
  return { top, ticks: numberTicks(0, top, Math.max(1, Math.min(5, top))) }
}

/** Where `a` falls in [from, from + span) as a fraction, without losing bigint precision where it matters. */
export function frac(a: bigint, from: bigint, span: bigint): number {
  if (a <= from) return 0
  const d = a - from
  if (d >= span) return 1
  return Number((d * 1_000_000_000n) / span) / 1e9
}
