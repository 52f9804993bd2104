/**
 * The options `vmbind` and `replay` share: a time series (`--stats-every`,
 * `--stats`, drawn with `--plot`), the mappings left (`--dump-mappings`) and
 * the zoom of the picture (`--from`/`--to`), with the checks that they go
 * together.
 */
import { type Command, InvalidArgumentError } from 'commander'
import { hex } from '../base/check.js'
import { positive } from './parsers.js'

export interface SeriesCliOptions {
  statsEvery?: number
  stats?: string
  plot?: string
  dumpMappings?: string
  svg?: string
  from?: bigint
  to?: bigint
}

/**
 * Adds the time-series options to `cmd`: `measures` says what `--plot`
 * draws, `moved` what goes to stderr when the table takes stdout.
 */
export function seriesOptions(cmd: Command, measures: string, moved: string): Command {
  return cmd
    .option(
      '--stats-every <n>',
      'write a time series, one row after every n requests and one after the last (see --stats)',
      positive,
    )
    .option(
      '--stats <file>',
      `where the time series goes: a .csv or .jsonl file, or - for stdout (the default without --plot; the ${moved} then goes to stderr)`,
    )
    .option(
      '--plot <file>',
      `with --stats-every: draw the time series (${measures}) as an SVG; without --stats it is not written as a table`,
    )
    .option('--dump-mappings <file>', 'write the mappings left at the end to a .csv or .jsonl file (- for stdout)')
}

/** Where the time series is written: --stats, else stdout unless it is only plotted; undefined for nowhere. */
export function statsFile(o: SeriesCliOptions): string | undefined {
  if (o.statsEvery === undefined) return undefined
  return o.stats ?? (o.plot === undefined ? '-' : undefined)
}

/** Throws a usage error (exit 2) for series options that do not go together. */
export function checkSeriesOptions(o: SeriesCliOptions): void {
  if (o.stats !== undefined && o.statsEvery === undefined) throw new InvalidArgumentError('--stats needs --stats-every')
  if (o.plot !== undefined && o.statsEvery === undefined)
    throw new InvalidArgumentError('--plot draws the --stats-every time series: give --stats-every too')
  if ((o.from !== undefined || o.to !== undefined) && o.svg === undefined)
    throw new InvalidArgumentError('--from and --to zoom the --svg picture: give --svg too')
  if (o.from !== undefined && o.to !== undefined && o.from >= o.to)
    throw new InvalidArgumentError(`--from ${hex(o.from)} must be below --to ${hex(o.to)}`)
  if (statsFile(o) === '-' && o.dumpMappings === '-')
    throw new InvalidArgumentError('--stats and --dump-mappings cannot both go to stdout: name a file for one')
}
