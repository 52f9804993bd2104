/**
 * `drmsim sweep`: the vmbind workload over a grid of parameters and seeds,
 * on a pool of worker threads, or one shard of it (`--shard i/n`, merged
 * by `drmsim merge`). The rows are the same bytes whatever the sharding and
 * the number of workers; timings go to their own file (`--timing`).
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import type { EngineName } from '../contract/vm.js'
import { resolveEngine } from '../engines.js'
import {
  FLAG,
  type GridInput,
  type Grid,
  gridInputOfJson,
  gridOf,
  PARAMS,
  paramName,
  parseParam,
  parseSeeds,
  sweepId,
  taskCount,
  taskOf,
  varied,
} from '../sweep/grid.js'
import { parseMeasures } from '../sweep/plot.js'
import { runTasks } from '../sweep/pool.js'
import { defaultWorkers } from '../sweep/threads.js'
import { parseWorkers } from './sweep-early.js'
import { type Row, rowOf } from '../sweep/rows.js'
import { parseShard, type Shard, shardTasks, shardText, WHOLE } from '../sweep/shard.js'
import { asyncAction, duration, EXIT_CODES_HELP, EXIT_OK, progressBar, Table, usage } from './common.js'
import {
  addOutputOptions,
  asUsage,
  DEFAULT_MEASURES,
  report,
  RowFiles,
  type SweepOutputOptions,
} from './sweep-output.js'

export interface SweepCliOptions extends SweepOutputOptions {
  param?: string[]
  grid?: string
  seeds?: string
  workers?: number
  shard?: string
  timing?: string
  list?: boolean
  /** False with --no-trace-hash. */
  traceHash?: boolean
}

const HELP = `
The grid: every combination of the --param values (and the grid file's), each run
with every seed. Parameters, as drmsim vmbind names them:
  ${PARAMS.map((p) => FLAG[p]).join(', ')} (engine=native,reference)
Values: integers, ranges a..b and a..b:step. A parameter
not given keeps vmbind's default. --seeds: a count N (the seeds 1..N), or a list of
seeds and ranges a..b. A grid file is one JSON object, as
  {"ops": [1000, 2000], "max-pages": [16, 64], "seeds": "1..32"}
a --param replaces the file's values of that parameter, --seeds its seeds.

Tasks: task i is grid point floor(i / seeds) with the (i mod seeds)-th seed; the
points count over the parameters in the order above, the last fastest (--list
prints them). --shard i/n (0 <= i < n) runs the tasks with i = task mod n; drmsim
merge joins the shards' --out files into the bytes one unsharded run writes.

Rows (--out JSON Lines, --csv): sweep (the grid's id), task, tasks, point, seed, the
parameters, then requests, map, remap, unmap, splits, keeps, mappings, mappedBytes,
freeBytes, holes, largestFree, fragmentation, traceFnv1a64, stateFnv1a64: the
numbers drmsim vmbind --json gives. No timing is in them, so they are the same bytes
whatever the sharding and the workers; --timing writes each task's times apart
(task, worker, loopNs, wallNs). Hashing each trace line is about half of a native
task: --no-trace-hash leaves traceFnv1a64 empty (and makes another sweep, with its
own id, whose shards merge only with each other).
`

export function addSweepCommand(cli: Command): void {
  addOutputOptions(
    cli
      .command('sweep')
      .description(
        'Run the vmbind workload over a grid of parameters and seeds on worker threads: rows as JSON Lines and CSV, a summary, a plot',
      )
      .option(
        '--param <name=values>',
        'a parameter and its values, as ops=1000,2000 or window=256..1024:256 (repeat for more)',
        (v: string, all: string[] | undefined) => [...(all ?? []), v],
      )
      .option('--grid <file>', 'a JSON grid file (see below)')
      .option('--seeds <seeds>', 'a count N (seeds 1..N), or seeds and ranges: 1..32, 7,9,100..199 (default 1)')
      .option(
        '--workers <n>',
        'workers: the main thread and n - 1 worker threads (default: the available parallelism)',
        parseWorkers,
      )
      .option('--shard <i/n>', 'run only the tasks whose index is i modulo n (0 <= i < n)')
      .option('--timing <file>', "write each task's time, in task order, to a .csv or .jsonl file")
      .option('--no-trace-hash', "leave each task's trace unhashed: a native task takes about half the time")
      .option('--list', 'print the tasks (index, point, seed, parameters) instead of running them'),
  )
    .addHelpText('after', HELP + EXIT_CODES_HELP)
    .action(asyncAction((o: SweepCliOptions) => runSweep(o)))
}

/** The grid of the options: the grid file, then each --param over it, then --seeds. */
function gridOfOptions(o: SweepCliOptions): Grid {
  let input: GridInput = { params: {} }
  if (o.grid !== undefined) {
    let text: string
    try {
      text = readFileSync(o.grid, 'utf8')
    } catch (err) {
      throw usage(`--grid: cannot read ${o.grid}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    input = asUsage(() => gridInputOfJson(text, o.grid!))
  }
  const given = new Set<string>()
  for (const text of o.param ?? []) {
    const { name, values } = asUsage(() => parseParam(text))
    if (given.has(name)) throw usage(`--param ${FLAG[name]} is given twice: list its values in one --param`)
    given.add(name)
    ;(input.params as Record<string, unknown>)[name] = values
  }
  if (o.seeds !== undefined) input.seeds = asUsage(() => parseSeeds(o.seeds!))
  if (o.traceHash === false) input.traceHash = false
  // Each engine the grid names must load; the default one is resolved here, once.
  const engine: EngineName = resolveEngine()
  for (const e of input.params?.engine ?? []) resolveEngine(e)
  return asUsage(() => gridOf(input, engine))
}

/** The plot's options, checked before any task runs. */
function checkPlot(o: SweepCliOptions, grid: Grid): void {
  if (o.svg === undefined) return
  asUsage(() => parseMeasures(o.y ?? DEFAULT_MEASURES))
  const vary = varied(grid)
  if (o.x !== undefined) {
    const x = asUsage(() => paramName(o.x!))
    if (!vary.includes(x)) throw usage(`--x ${o.x}: ${FLAG[x]} takes one value in this sweep; plot one that varies`)
  } else if (vary.length === 0)
    throw usage('--svg plots a measure against a parameter: this sweep varies none (give --param name=v1,v2)')
}

function listTasks(grid: Grid, indices: readonly number[]): number {
  const lines = indices.map((i) => {
    const t = taskOf(grid, i)
    const params = PARAMS.map((p) => `${FLAG[p]}=${t.params[p]}`).join(' ')
    return `${i}\tpoint ${t.point}\tseed ${t.params.seed}\t${params}\n`
  })
  process.stdout.write(lines.join(''))
  return EXIT_OK
}

async function runSweep(o: SweepCliOptions): Promise<number> {
  const started = process.hrtime.bigint()
  const grid = gridOfOptions(o)
  const shard: Shard = o.shard === undefined ? WHOLE : asUsage(() => parseShard(o.shard!))
  const id = sweepId(grid)
  const total = taskCount(grid)
  const indices = shardTasks(total, shard)
  if (o.list) return listTasks(grid, indices)
  checkPlot(o, grid)
  const files = new RowFiles(o)
  const timing = o.timing === undefined ? undefined : new Table('--timing', o.timing, false, TIMING_COLUMNS)
  const workers = o.workers ?? defaultWorkers()
  const rows: Row[] = new Array(indices.length)
  const times: Record<(typeof TIMING_COLUMNS)[number], number>[] = new Array(indices.length)
  let written = 0
  let done = 0
  const bar = progressBar(indices.length, 'sweep tasks')
  try {
    await runTasks(grid, indices, {
      workers,
      onDone: (d) => {
        // A shard's k-th task is task shard.index + k * shard.count.
        const k = (d.index - shard.index) / shard.count
        rows[k] = rowOf(id, total, taskOf(grid, d.index), d.output.result)
        times[k] = { task: d.index, worker: d.worker, loopNs: d.output.loopNs, wallNs: d.wallNs }
        while (written < rows.length && rows[written] !== undefined) files.row(rows[written++])
        bar?.update(++done)
      },
    })
  } finally {
    bar?.stop()
    files.close()
  }
  if (timing) {
    for (const t of times) timing.row(t)
    timing.close()
  }
  report(rows, o, files.toStdout)
  if (process.stderr.isTTY) {
    const ns = Number(process.hrtime.bigint() - started)
    const of = shard.count > 1 ? ` (shard ${shardText(shard)} of ${total})` : ''
    process.stderr.write(
      `drmsim sweep ${id}: ${indices.length} tasks${of} on ${Math.min(workers, indices.length)} workers in ${duration(ns)}\n`,
    )
  }
  return EXIT_OK
}

const TIMING_COLUMNS = ['task', 'worker', 'loopNs', 'wallNs'] as const
