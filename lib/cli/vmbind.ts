/**
 * `drmsim vmbind`: the canonical workload, reported for people (what ran,
 * how fast, what happened, whether the kernel's recorded result matches),
 * as JSON, or in the exact machine format of the golden files (`--machine`,
 * `--trace`); with a time series (`--stats-every`), the mappings left
 * (`--dump-mappings`) and a picture (`--svg`, `--from`/`--to`).
 */
import { type Command, InvalidArgumentError, Option } from 'commander'
import type { EngineName } from '../contract/vm.js'
import { hex } from '../base/check.js'
import { GemObject } from '../device/gem.js'
import { GpuVm } from '../gpuvm/gpuvm.js'
import { renderStats, type StatsRow } from '../render/plot.js'
import { bytes, renderVaSpace } from '../render/render.js'
import { KERNEL_RESULTS, kernelResult, vmbindArgs, type KernelResult } from '../workloads/golden.js'
import type { VmbindDetails, VmbindSample } from '../workloads/vmbind-detail.js'
import { vmbind, type VmbindOutput } from '../workloads/vmbind-run.js'
import { BASE, defaultParams, PAGE_SIZE, requests, vmbindVmOptions, type VmbindParams } from '../workloads/vmbind.js'
import {
  count,
  counted,
  duration,
  EXIT_CODES_HELP,
  EXIT_FAILED,
  EXIT_OK,
  Out,
  Table,
  vmbindProgress,
  writeSvg,
} from './common.js'
import { integer, u64 } from './parsers.js'
import { checkSeriesOptions, type SeriesCliOptions, seriesOptions, statsFile } from './series.js'
import { traceJsonLines } from './trace-json.js'
import { addCostOptions, costJson, costLines, costMachineLine } from './cost.js'
import type { PageTableProfileName } from '../contract/pagetable.js'

/** The workload's parameters and the command's flags. */
export interface VmbindCliOptions extends VmbindParams, SeriesCliOptions {
  engine?: EngineName
  machine?: boolean
  trace?: boolean
  bench?: boolean
  json?: boolean
  /** The page-table cost model (issue 15): `--cost`, `--pt-profile`. */
  cost?: boolean
  ptProfile?: PageTableProfileName
}

const RECORDED_HELP = `
The report says what ran (parameters, engine, requests/s, wall time), what happened (maps,
remaps, unmaps, splits, keeps, live mappings, the largest, the fragmentation of the request
window), and whether the kernel recorded the same result for these parameters, as it did for:
${KERNEL_RESULTS.map((k) => `  drmsim vmbind ${vmbindArgs(k.params)}`).join('\n')}
A result that differs from the kernel's exits 1, in every format. --machine and --trace
print the format scripts and the golden files use, byte for byte.
`

/** The workload's parameters as options (shared by `vmbind` and `diff`). */
export function addParamOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--seed <n>', 'PRNG seed (u64, decimal or 0x hex)').argParser(u64).default(defaultParams.seed, '1'),
    )
    .option('--ops <n>', 'number of requests', integer(0), defaultParams.ops)
    .option('--window <n>', 'pages of VA the requests fall in', integer(1), defaultParams.window)
    .option('--max-pages <n>', 'longest request, in pages', integer(1), defaultParams.maxPages)
    .option('--objects <n>', 'distinct GEM objects', integer(1, 0xffff_fffe), defaultParams.objects)
    .option('--map-percent <n>', 'share of requests that are maps', integer(0, 100), defaultParams.mapPercent)
    .addOption(
      new Option('--engine <name>', 'engine (default: DRMSIM_ENGINE, else native)').choices(['native', 'reference']),
    )
}

export const paramsOf = (o: VmbindCliOptions): VmbindParams => ({
  seed: o.seed,
  ops: o.ops,
  window: o.window,
  maxPages: o.maxPages,
  objects: o.objects,
  mapPercent: o.mapPercent,
})

export function addVmbindCommand(cli: Command): void {
  const cmd = seriesOptions(
    addParamOptions(
      cli
        .command('vmbind')
        .description(
          'Run the canonical bind/unbind workload (lib/workloads/vmbind.md in the drmsim repository) and report what it did',
        ),
    ),
    'mappings, bytes mapped, steps',
    'report',
  )
    .option(
      '--machine',
      'print the exact machine summary instead of the report: five lines, counts and FNV-1a hashes (the golden files)',
    )
    .option(
      '--trace',
      'print every request ("req N": its index, from 0) and its steps, then the machine summary (the golden trace format)',
    )
    .option(
      '--bench',
      'time the request loop alone (no trace hashing) and print bench_ns_per_request; a second, untimed run hashes the trace',
    )
    .option('--json', 'print one JSON object instead of the report (with --trace: one object per request before it)')
    .option(
      '--svg <file>',
      'also write an SVG picture of the final VA space (replayed through the API on the same engine)',
    )
    .option('--from <addr>', 'with --svg: the picture starts at this address (default: the request window)', u64)
    .option('--to <addr>', 'with --svg: the picture ends before this address', u64)
  // The page-table cost model (issue 15).
  addCostOptions(cmd)
  cmd.addHelpText('after', RECORDED_HELP + EXIT_CODES_HELP).action((o: VmbindCliOptions) => {
    process.exitCode = runVmbindCommand(o)
  })
}

/** Throws a usage error (exit 2) for options that do not go together. */
function checkOptions(o: VmbindCliOptions): void {
  if (o.trace && o.bench) throw new InvalidArgumentError('--trace and --bench exclude each other')
  if (o.machine && o.json) throw new InvalidArgumentError('--machine and --json exclude each other (pick one format)')
  checkSeriesOptions(o)
}

export function runVmbindCommand(o: VmbindCliOptions): number {
  const started = process.hrtime.bigint()
  checkOptions(o)
  const params = paramsOf(o)
  const zoom = svgRange(o, params)
  const machine = (o.machine || o.trace) && !o.json
  // Without --stats the series goes to stdout, unless it is only plotted.
  const statsTo = statsFile(o)
  const stats = statsTo === undefined ? undefined : new Table('--stats', statsTo, o.json === true, SAMPLE_COLUMNS)
  const plotted: StatsRow[] | undefined = o.plot === undefined ? undefined : []
  const dump =
    o.dumpMappings === undefined
      ? undefined
      : new Table('--dump-mappings', o.dumpMappings, o.json === true, ['addr', 'range', 'obj', 'offset'])
  // A table on stdout keeps stdout to itself: the report goes to stderr.
  const report = new Out(stats?.toStdout || dump?.toStdout ? 2 : 1)
  const wantDetails = !machine || o.statsEvery !== undefined || dump !== undefined
  let bench: VmbindOutput | undefined
  if (o.bench) bench = vmbind({ ...params, engine: o.engine, trace: 'off' })
  const bar = vmbindProgress(o.ops, o.engine)
  let out: VmbindOutput
  try {
    out = vmbind({
      ...params,
      engine: o.engine,
      trace: o.trace ? 'full' : 'hash',
      onProgress: bar ? (n) => bar.update(n) : undefined,
      details: wantDetails,
      pageTable: o.cost ? (o.ptProfile ?? 'xe') : undefined,
      samples:
        o.statsEvery === undefined
          ? undefined
          : {
              every: o.statsEvery,
              onSample: (s) => {
                stats?.row({ ...s })
                plotted?.push({ ...s })
              },
            },
    })
  } finally {
    bar?.stop()
    stats?.close()
  }
  const benchNs = bench === undefined ? undefined : bench.params.ops ? bench.loopNs / bench.params.ops : 0
  const kernel = kernelResult(params)
  const differs = kernel !== undefined && out.summary !== kernel.summary
  if (machine) {
    report.text(out.trace)
    report.text(out.summary)
    if (benchNs !== undefined) report.line(`bench_ns_per_request ${round(benchNs)}`)
    if (out.cost) report.line(costMachineLine(out.cost))
  } else if (o.json) {
    if (o.trace) for (const line of traceJsonLines(out.trace)) report.line(line)
    const json = jsonReport(out, kernel, benchNs, started)
    report.line(JSON.stringify(out.cost ? { ...json, cost: costJson(out.cost, out.params.ops) } : json))
  } else {
    for (const line of humanReport(out, kernel, benchNs, started)) report.line(line)
    if (out.cost) for (const line of costLines(out.cost, out.params.ops)) report.line(line)
  }
  report.flush()
  if (dump) {
    for (const va of out.details!.mappings) {
      dump.row({ addr: hex(va.addr), range: hex(va.range), obj: va.obj, offset: hex(va.offset) })
    }
    dump.close()
  }
  // After the summary, which a path that cannot be written must not lose.
  if (o.svg) vmbindSvg(params, o.engine, o.svg, zoom, o.cost ? (o.ptProfile ?? 'xe') : undefined)
  if (o.plot && plotted?.length)
    writeSvg(o.plot, renderStats(plotted, { title: `drmsim vmbind ${vmbindArgs(params)}` }), '--plot')
  if (differs) {
    process.stderr.write(
      `drmsim: the result differs from the kernel's recorded one for these parameters; in a checkout, ` +
        `\`drmsim diff __test__/golden/${kernel.file}\` names the first line that differs\n`,
    )
    return EXIT_FAILED
  }
  return EXIT_OK
}

const round = (n: number): number => Math.round(n * 10) / 10

const SAMPLE_COLUMNS: readonly (keyof VmbindSample)[] = [
  'req',
  'mappings',
  'map',
  'remap',
  'unmap',
  'splits',
  'keeps',
  'mappedBytes',
]

const ENGINE_WHAT: Record<EngineName, string> = {
  native: 'native (the whole run in Rust)',
  reference: 'reference (TypeScript)',
}

const perSecond = (ops: number, ns: number): number => (ns > 0 ? Math.round((ops * 1e9) / ns) : 0)

function summaryValues(summary: string): Record<string, string> {
  return Object.fromEntries(
    summary
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
  )
}

/** What the report says of a run's machine summary against the kernel's recorded one for its parameters. */
export function kernelLine(summary: string, kernel: KernelResult | undefined): string {
  if (kernel === undefined)
    return 'no kernel result is recorded for these parameters (drmsim vmbind --help lists the ones that are)'
  if (summary === kernel.summary)
    return `matches the kernel's recorded result (${kernel.file}: counts, mappings, trace and state hashes)`
  const got = summaryValues(summary)
  const want = summaryValues(kernel.summary)
  const diffs = Object.keys(want)
    .filter((k) => got[k] !== want[k])
    .map((k) => `${k} ${got[k] ?? '(none)'}, recorded ${want[k]}`)
  return `DIFFERS from the kernel's recorded result (${kernel.file}): ${diffs.join('; ')}`
}

function humanReport(
  out: VmbindOutput,
  kernel: KernelResult | undefined,
  benchNs: number | undefined,
  started: bigint,
): string[] {
  const p = out.params
  const d = out.details!
  const wall = Number(process.hrtime.bigint() - started)
  const windowBytes = d.window.to - d.window.from
  const lines: [string, string][] = [
    [
      'ran',
      `vmbind, ${counted(p.ops, 'request')}: seed ${p.seed}, a window of ${counted(p.window, 'page')} ` +
        `(${bytes(windowBytes)} at ${hex(BASE)}), up to ${counted(p.maxPages, 'page')} a request, ` +
        `${counted(p.objects, 'object')}, ${p.mapPercent}% maps`,
    ],
    [
      'engine',
      `${ENGINE_WHAT[out.engine]}: ${duration(out.loopNs)} in the request loop, ` +
        `${count(perSecond(p.ops, out.loopNs))} requests/s; ${duration(wall)} wall time`,
    ],
  ]
  if (benchNs !== undefined)
    lines.push(['bench', `${round(benchNs)} ns per request (the request loop alone, in a run that hashes nothing)`])
  lines.push(
    [
      'ops',
      `${counted(d.map, 'map')}, ${counted(d.remap, 'remap')}, ${counted(d.unmap, 'unmap')}; ` +
        `${counted(d.splits, 'split')} (remaps that cut a mapping in two), ${counted(d.keeps, 'keep')} (keep=1)`,
    ],
    ['mappings', mappingsLine(d)],
    [
      'VA space',
      `${percent(windowBytes - d.freeBytes, windowBytes)} of the window mapped; ${bytes(d.freeBytes)} free in ` +
        `${counted(d.holes, 'hole')}, the largest ${bytes(d.largestFree)}: fragmentation ${Number(d.fragmentation.toFixed(3))}`,
    ],
    ['kernel', kernelLine(out.summary, kernel)],
  )
  return lines.map(([label, text]) => `${label.padEnd(9)} ${text}`)
}

function mappingsLine(d: VmbindDetails): string {
  const live = `${count(d.mappings.length)} live, ${bytes(d.mappedBytes)}`
  if (d.largest === null) return live
  const l = d.largest
  return `${live}; the largest ${bytes(l.range)} (${hex(l.range)}) at ${hex(l.addr)}, object ${hex(l.obj)}`
}

function percent(part: bigint, whole: bigint): string {
  if (whole === 0n) return '0%'
  const p = (Number(part) / Number(whole)) * 100
  return `${p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)}%`
}

function jsonReport(
  out: VmbindOutput,
  kernel: KernelResult | undefined,
  benchNs: number | undefined,
  started: bigint,
): Record<string, unknown> {
  const s = summaryValues(out.summary)
  const d = out.details!
  const p = out.params
  const ops = Object.fromEntries(s.ops.split(' ').map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])]))
  return {
    engine: out.engine,
    params: { ...p, seed: String(p.seed) },
    requests: Number(s.requests),
    ops,
    splits: d.splits,
    keeps: d.keeps,
    mappings: Number(s.mappings),
    traceFnv1a64: s.trace_fnv1a64,
    stateFnv1a64: s.state_fnv1a64,
    largest: d.largest && {
      addr: hex(d.largest.addr),
      range: hex(d.largest.range),
      obj: d.largest.obj,
      offset: hex(d.largest.offset),
    },
    va: {
      from: hex(d.window.from),
      to: hex(d.window.to),
      mappedBytes: Number(d.mappedBytes),
      freeBytes: Number(d.freeBytes),
      holes: d.holes,
      largestFree: Number(d.largestFree),
      fragmentation: Math.round(d.fragmentation * 1e4) / 1e4,
    },
    kernel: kernel ? { file: kernel.file, matches: out.summary === kernel.summary } : null,
    loopNs: out.loopNs,
    requestsPerSecond: perSecond(p.ops, out.loopNs),
    wallNs: Number(process.hrtime.bigint() - started),
    ...(benchNs !== undefined ? { benchNsPerRequest: round(benchNs) } : {}),
  }
}

/** The address range a vmbind picture shows: --from/--to, by default the request window. */
export function svgRange(o: { from?: bigint; to?: bigint }, params: VmbindParams): { from: bigint; to: bigint } {
  const from = o.from ?? BASE
  const to = o.to ?? BASE + BigInt(params.window) * PAGE_SIZE
  if (from >= to) throw new InvalidArgumentError(`--from ${hex(from)} must be below --to ${hex(to)}`)
  return { from, to }
}

/**
 * The canonical vmbind workload replayed through the public API on `engine`,
 * for its picture (the native whole-run engine returns mappings, not a VA space to draw).
 */
export function vmbindSvg(
  params: VmbindParams,
  engine: EngineName | undefined,
  file: string,
  zoom = svgRange({}, params),
  pageTable?: PageTableProfileName,
): void {
  const opts = vmbindVmOptions()
  const { name, start, range, reserve } = opts
  using vm = new GpuVm({ name, start, range, reserve, engine, pageTable })
  const objects = new Map<number, GemObject>()
  const size = (256n + BigInt(params.maxPages)) * PAGE_SIZE
  for (const req of requests(params)) {
    if (req.kind === 'map') {
      let obj = objects.get(req.obj)
      if (!obj) objects.set(req.obj, (obj = new GemObject({ size, id: req.obj })))
      vm.bind({ addr: req.addr, range: req.range, obj, offset: req.offset })
    } else vm.unbind(req.addr, req.range)
  }
  const svg = renderVaSpace(vm, {
    title: `vmbind seed ${params.seed} ops ${params.ops}: VA space '${vm.name}'`,
    label: (obj) => `0x${obj.id.toString(16)}`,
    from: zoom.from,
    to: zoom.to,
    width: 1200,
  })
  writeSvg(file, svg)
  // Mappings left at the end are expected here: no tree-not-empty warning matters.
  vm.takeWarnings()
}
