/**
 * What `drmsim sweep` and `drmsim merge` write alike: the rows as JSON Lines
 * (`--out`) and CSV (`--csv`), written in task order as they come, then the
 * summary (a table, or JSON with `--json`) and the plot (`--svg`, `--x`,
 * `--y`). The files are opened before any task runs, so a path that cannot
 * be written fails at once.
 */
import { closeSync, openSync } from 'node:fs'
import type { Command } from 'commander'
import { renderSweep } from '../render/sweep.js'
import { csvHeader, csvLine } from '../sweep/csv.js'
import { SweepError } from '../sweep/error.js'
import { parseMeasures, sweepPlot, xParam } from '../sweep/plot.js'
import { type Row, rowLine } from '../sweep/rows.js'
import { summarize, summaryJson, summaryLines } from '../sweep/summary.js'
import { Out, usage, writeSvg } from './common.js'

export interface SweepOutputOptions {
  out?: string
  csv?: string
  svg?: string
  x?: string
  y?: string
  json?: boolean
}

/** What the plot shows without --y. */
export const DEFAULT_MEASURES = 'mappings,splits'

/** The output options both commands take. */
export function addOutputOptions(cmd: Command): Command {
  return cmd
    .option('--out <file>', 'write the rows as JSON Lines, one per task in task order (- for stdout)')
    .option('--csv <file>', 'write the rows as CSV, the same columns (- for stdout)')
    .option('--svg <file>', 'draw a measure against a parameter (--x, --y) as an SVG plot')
    .option('--x <param>', 'with --svg: the parameter on the x axis (default: the first that varies)')
    .option(
      '--y <measures>',
      'with --svg: the measures to plot, comma-separated, one panel each (default: mappings,splits)',
    )
    .option('--json', 'print the summary as JSON, one object per grid point')
}

/** A usage error (exit 2) for a sweep's bad input, which the library reports as a SweepError. */
export function asUsage<T>(f: () => T): T {
  try {
    return f()
  } catch (err) {
    if (err instanceof SweepError) throw usage(err.message)
    throw err
  }
}

function open(option: string, file: string): Out {
  if (file === '-') return new Out(1)
  try {
    return new Out(openSync(file, 'w'))
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw usage(`${option}: cannot write ${file}: ${e.code ?? e.message}`)
  }
}

/** The row files, opened at once; rows go in with `row`, in task order. */
export class RowFiles {
  readonly #jsonl: Out | undefined
  readonly #csv: Out | undefined
  /** Whether a table takes stdout (the summary then goes to stderr). */
  readonly toStdout: boolean

  constructor(o: SweepOutputOptions) {
    if (o.out === '-' && o.csv === '-') throw usage('--out and --csv cannot both go to stdout: name a file for one')
    if (o.svg === undefined && (o.x !== undefined || o.y !== undefined))
      throw usage('--x and --y choose what --svg plots: give --svg too')
    this.toStdout = o.out === '-' || o.csv === '-'
    this.#jsonl = o.out === undefined ? undefined : open('--out', o.out)
    this.#csv = o.csv === undefined ? undefined : open('--csv', o.csv)
    this.#csv?.line(csvHeader())
  }

  row(row: Row): void {
    this.#jsonl?.line(rowLine(row))
    this.#csv?.line(csvLine(row))
  }

  close(): void {
    for (const out of [this.#jsonl, this.#csv]) {
      if (out === undefined) continue
      out.flush()
      if (out.fd > 2) closeSync(out.fd)
    }
  }
}

/** The summary of `rows` (in task order) on stdout, or stderr when a table took stdout; then the plot. */
export function report(rows: readonly Row[], o: SweepOutputOptions, toStdout: boolean): void {
  const points = summarize(rows)
  // From the rows alone: a sweep and the merge of its shards draw the same picture.
  const title = rows.length ? `drmsim sweep ${rows[0].sweep}: ${points.length} grid points, ${rows.length} runs` : ''
  // The plot's options are checked before anything is printed.
  const plot =
    o.svg === undefined || points.length === 0
      ? undefined
      : asUsage(() => sweepPlot(points, xParam(points, o.x), parseMeasures(o.y ?? DEFAULT_MEASURES), title))
  const out = new Out(toStdout ? 2 : 1)
  if (o.json) for (const s of points) out.line(JSON.stringify(summaryJson(s)))
  else for (const line of summaryLines(points)) out.line(line)
  out.flush()
  if (plot !== undefined && o.svg !== undefined) writeSvg(o.svg, renderSweep(plot))
}
