/**
 * `drmsim replay <file>`: a workload of the user's own, one JSON request per
 * line, printed request by request (`req N`: the request's index, from 0),
 * or as a summary, or as JSON Lines that replay again; with a time series
 * (`--stats-every`, drawn with `--plot`), the mappings left
 * (`--dump-mappings`) and a picture (`--svg`, zoomed with `--from`/`--to`).
 */
import { addCostOptions, costJson, costLines, type CostReport } from './cost.js'
import type { PageTableProfileName } from '../contract/pagetable.js'
import path from 'node:path'
import { type Command, Option } from 'commander'
import type { EngineName } from '../contract/vm.js'
import { hex } from '../base/check.js'
import type { Device } from '../device/device.js'
import { domainsOf, occupancyColumns } from '../device/occupancy.js'
import type { PlaceDomain } from '../device/placement.js'
import { renderStats, type StatsRow } from '../render/plot.js'
import { renderReplay } from '../render/render.js'
import {
  DEFAULT_MAX_HANDLES,
  DEFAULT_MAX_LINE_BYTES,
  errorJson,
  recordJson,
  recordLines,
  Replayer,
  ReplayError,
  replayLineOf,
  feedFile,
  summaryJson,
  summaryText,
  type ReplayRecord,
  type ReplayResult,
} from '../replay/index.js'
import {
  asyncAction,
  EXIT_CODES_HELP,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  Out,
  type Progress,
  progressBar,
  reportError,
  Table,
  writeSvg,
} from './common.js'
import { positive, u64 } from './parsers.js'
import { checkSeriesOptions, type SeriesCliOptions, seriesOptions, statsFile } from './series.js'

interface ReplayCliOptions extends SeriesCliOptions {
  summary?: boolean
  json?: boolean
  keepGoing?: boolean
  engine?: EngineName
  maxLineBytes: number
  maxHandles: number
  /** The page-table cost model (issue 15). */
  cost?: boolean
  ptProfile?: PageTableProfileName
}

export function addReplayCommand(cli: Command): void {
  const cmd = cli
    .command('replay')
    .description(
      'Replay a workload of your own from a JSON Lines file (one request per line; see examples/replay.jsonl, and examples/gpuvm-hub.jsonl for the drm_gpuvm ops) and print every op, or a summary',
    )
    .argument('<file>', "the JSON Lines file ('-' for stdin); the output of replay --json replays too")
    .option('--summary', 'print the summary only, not the ops of each request')
    .option(
      '--json',
      'print JSON Lines: one object per request (req: its index, line: its input line; u64 values as 0x hex strings, counts as numbers), then {"summary": ...}; they replay as they are',
    )
    .option(
      '--keep-going',
      'record a request the simulation refuses and go on (exit code 1 at the end); malformed lines still stop',
    )
  seriesOptions(
    cmd,
    'mappings, steps, memory used per domain with its capacity, fragmentation, evictions, bytes moved',
    'output',
  )
    .option('--svg <file>', 'write an SVG picture of the VA spaces and memory domains at the end')
    .option(
      '--from <addr>',
      'with --svg: the VA spaces are drawn from this address (default: their first mapping)',
      u64,
    )
    .option('--to <addr>', 'with --svg: ... up to this one (default: the end of their last mapping)', u64)
    .option('--max-line-bytes <n>', 'longest accepted line, in bytes', positive, DEFAULT_MAX_LINE_BYTES)
    .option('--max-handles <n>', 'most VMs + objects + acquire contexts alive at once', positive, DEFAULT_MAX_HANDLES)
    .addOption(
      new Option('--engine <name>', 'engine (default: DRMSIM_ENGINE, else native)').choices(['native', 'reference']),
    )
  // The page-table cost model (issue 15).
  addCostOptions(cmd)
  cmd
    .addHelpText(
      'after',
      `
Each request prints as "req N OP ..." (N: its index, from 0, as in vmbind --trace; blank
and # lines are not requests), then its steps; errors name the file:line.${EXIT_CODES_HELP}`,
    )
    .action(asyncAction((file: string, o: ReplayCliOptions) => runReplay(file, o)))
}

async function runReplay(file: string, o: ReplayCliOptions): Promise<number> {
  checkSeriesOptions(o)
  const to = statsFile(o)
  const stats = to === undefined ? undefined : new Table('--stats', to, o.json === true)
  const plotted: StatsRow[] | undefined = o.plot === undefined ? undefined : []
  const dump =
    o.dumpMappings === undefined
      ? undefined
      : new Table('--dump-mappings', o.dumpMappings, o.json === true, ['vm', 'addr', 'range', 'obj', 'offset'])
  // A table on stdout keeps stdout to itself: the output goes to stderr.
  const out = new Out(stats?.toStdout || dump?.toStdout ? 2 : 1)
  let index = 0
  let replayer: Replayer | undefined
  const series =
    o.statsEvery === undefined
      ? undefined
      : new Series(
          (row) => {
            stats?.row(row)
            plotted?.push(row)
          },
          o.statsEvery,
          () => replayer!.device,
        )
  const print = o.summary
    ? (r: ReplayRecord) => {
        if (r.error && o.keepGoing) process.stderr.write(`drmsim: ${r.error.message}\n`)
      }
    : o.json
      ? (r: ReplayRecord) => out.line(JSON.stringify(recordJson(r, index)))
      : (r: ReplayRecord) => {
          for (const l of recordLines(r, index)) out.line(l)
        }
  let bar: Progress | null | undefined
  try {
    replayer = new Replayer({
      file: file === '-' ? '<stdin>' : path.basename(file),
      engine: o.engine,
      keepGoing: o.keepGoing,
      maxLineBytes: o.maxLineBytes,
      maxHandles: o.maxHandles,
      pageTable: o.cost ? (o.ptProfile ?? 'xe') : undefined,
      onRecord: (r) => {
        print(r)
        series?.record(r, index)
        index++
      },
    })
    // --summary without a series reads only each record's error: no steps needed (fast-lines.ts).
    if (o.summary && series === undefined) replayer.discardRecords(true)
    const result = await feedCliFile(replayer, file, (n, total) => {
      if (bar === undefined) bar = total >= 1 << 20 ? progressBar(total, 'replay bytes') : null
      bar?.update(n)
    })
    bar?.stop()
    series?.end(index - 1)
    stats?.close()
    const costs = o.cost ? vmCosts(result) : undefined
    if (o.json) {
      const costJsonOf = costs && Object.fromEntries(costs.map(([name, c]) => [name, costJson(c)]))
      out.line(JSON.stringify({ summary: summaryJson(result.summary), ...(costs ? { cost: costJsonOf } : {}) }))
    } else {
      out.line(summaryText(result.summary).trimEnd())
      for (const [name, c] of costs ?? []) for (const l of [`vm ${name}:`, ...costLines(c)]) out.line(l)
    }
    out.flush()
    if (dump) dumpMappings(dump, result)
    // After the summary, which a path that cannot be written must not lose.
    if (o.svg) writeSvg(o.svg, renderReplay(result, { from: o.from, to: o.to }))
    if (o.plot && plotted?.length)
      writeSvg(o.plot, renderStats(plotted, { title: `drmsim replay ${path.basename(file)}` }), '--plot')
    return result.summary.errors > 0 ? EXIT_FAILED : EXIT_OK
  } catch (err) {
    bar?.stop()
    stats?.close()
    out.flush()
    if (err instanceof ReplayError) {
      if (o.json) process.stdout.write(`${JSON.stringify({ error: errorJson(err) })}\n`)
      process.stderr.write(`drmsim: ${err.message}\n`)
      return err.kind === 'format' ? EXIT_USAGE : EXIT_FAILED
    }
    const exitCode = reportError(err)
    if (exitCode !== undefined) return exitCode
    if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') return EXIT_OK
    throw err
  }
}

/**
 * Streams `file` into `replayer`; lines of `drmsim replay --json` output are
 * read as the requests they record (`replayLineOf`), so that output replays.
 */
const feedCliFile = (replayer: Replayer, file: string, onProgress: (bytesRead: number, totalBytes: number) => void) =>
  feedFile(replayer, file, onProgress, (text) => replayLineOf(text) ?? '')

/**
 * The replay's time series: after every `every` requests (and the last), the
 * live mappings, the steps so far, each memory domain's used bytes, the
 * capacity and fragmentation (1 - largest free / free) of VRAM and GTT, and
 * the evictions and bytes moved so far. Mappings are counted from the steps
 * (a destroyed VM takes its own with it).
 */
class Series {
  readonly #perVm = new Map<string, number>()
  readonly #ops = { map: 0, remap: 0, unmap: 0 }
  #mappings = 0
  #domains: PlaceDomain[] | undefined
  #last = -1
  #line = 0

  constructor(
    readonly row: (row: Record<string, number>) => void,
    readonly every: number,
    readonly device: () => Device,
  ) {}

  record(r: ReplayRecord, index: number): void {
    const vm = r.request.vm
    this.#line = r.request.line
    if (vm !== undefined && r.steps.length) {
      let delta = 0
      for (const s of r.steps) {
        this.#ops[s.kind]++
        delta += s.kind === 'map' ? 1 : s.kind === 'unmap' ? -1 : (s.prev ? 1 : 0) + (s.next ? 1 : 0) - 1
      }
      this.#perVm.set(vm, (this.#perVm.get(vm) ?? 0) + delta)
      this.#mappings += delta
    }
    if (r.request.op === 'vm.destroy' && vm !== undefined) {
      this.#mappings -= this.#perVm.get(vm) ?? 0
      this.#perVm.delete(vm)
    }
    if ((index + 1) % this.every === 0) this.#sample(index)
  }

  end(last: number): void {
    if (last >= 0 && this.#last !== last) this.#sample(last)
  }

  #sample(req: number): void {
    this.#last = req
    const row: Record<string, number> = { req, line: this.#line, mappings: this.#mappings, ...this.#ops }
    const device = this.device() as Device & Partial<Pick<Device, 'memory' | 'placementTotals'>>
    if (typeof device.memory === 'function' && device.placementTotals) {
      this.#domains ??= domainsOf(device as Device)
      Object.assign(row, occupancyColumns(device as Device, this.#domains))
    }
    this.row(row)
  }
}

/** The mappings of every live VA space: vm, addr, range, obj (its replay name; none for a sparse one), offset. */
function dumpMappings(dump: Table, result: ReplayResult): void {
  for (const [name, vm] of result.vms) {
    for (const va of vm.vas()) {
      if (va.isKernelNode) continue
      dump.row({
        vm: name,
        addr: hex(va.addr),
        range: hex(va.range),
        obj: va.obj === null ? null : (result.nameOf(va.obj) ?? `#${va.obj.id}`),
        offset: hex(va.offset),
      })
    }
  }
  dump.close()
}

/** The page-table costs of the VA spaces alive at the end (`--cost`), by name. */
function vmCosts(result: ReplayResult): [string, CostReport][] {
  const out: [string, CostReport][] = []
  for (const [name, vm] of result.vms) {
    const pt = vm.pageTable
    if (pt === undefined) continue
    const info = pt.info()
    out.push([name, { profile: pt.profile, total: info.total, occupancy: info.occupancy }])
  }
  return out
}
