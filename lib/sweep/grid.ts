/**
 * A sweep's grid: the values of each vmbind parameter and the seeds, read
 * from `--param name=v1,v2` and `--seeds` (or a JSON grid file), and the
 * fixed order of its tasks. Task i is grid point floor(i / seeds) with the
 * (i mod seeds)-th seed; points count in mixed radix over PARAMS, the last
 * parameter fastest. The order depends on the grid alone (never on how the
 * options were written, nor on sharding or workers), and `sweepId` names it.
 */
import type { EngineName } from '../contract/vm.js'
import { defaultParams, Fnv1a64, validateParams, type VmbindParams } from '../workloads/vmbind.js'
import { SweepError } from './error.js'

/** The parameters a sweep varies, in task order (after them, the seed varies fastest). */
export const PARAMS = ['engine', 'ops', 'window', 'maxPages', 'objects', 'mapPercent'] as const
export type ParamName = (typeof PARAMS)[number]
export type NumericParam = Exclude<ParamName, 'engine'>

/** Each parameter as `drmsim vmbind` spells its option. */
export const FLAG: Readonly<Record<ParamName, string>> = {
  engine: 'engine',
  ops: 'ops',
  window: 'window',
  maxPages: 'max-pages',
  objects: 'objects',
  mapPercent: 'map-percent',
}

const ENGINES: readonly EngineName[] = ['native', 'reference']
/** More tasks than this is a mistake in the grid, not a sweep. */
export const MAX_TASKS = 2 ** 31

/** Consecutive seeds [from, to]. */
export interface SeedRun {
  from: bigint
  to: bigint
}

export interface Grid {
  /** The engines, in the order given. */
  engine: EngineName[]
  ops: number[]
  window: number[]
  maxPages: number[]
  objects: number[]
  mapPercent: number[]
  /** The seeds, as runs of consecutive seeds in the order given, adjacent runs joined. */
  seeds: SeedRun[]
  /**
   * Whether each task hashes its trace (the rows' traceFnv1a64). Hashing every line is about half
   * of a native task; without it the column is empty.
   */
  traceHash: boolean
}

/** One grid point: a vmbind run's parameters but the seed. */
export interface Point extends Omit<VmbindParams, 'seed'> {
  engine: EngineName
}

/** One task: a grid point and a seed. */
export interface Task {
  index: number
  point: number
  params: Point & { seed: bigint }
  /** The grid's `traceHash`. */
  traceHash: boolean
}

/** What the options or a grid file give: value lists for some parameters, the seeds. */
export interface GridInput {
  params?: Partial<{ [K in ParamName]: K extends 'engine' ? EngineName[] : number[] }>
  seeds?: SeedRun[]
  /** False to leave the traces unhashed (default true). */
  traceHash?: boolean
}

/** A parameter by its option name (`max-pages`) or its field name (`maxPages`). */
export function paramName(text: string): ParamName {
  const name = PARAMS.find((p) => p === text || FLAG[p] === text)
  if (name !== undefined) return name
  if (text === 'seed' || text === 'seeds') throw new SweepError('the seeds are given by --seeds (a count, or a..b)')
  throw new SweepError(`no parameter named ${text}: the sweep varies ${PARAMS.map((p) => FLAG[p]).join(', ')}`)
}

function integerItem(name: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new SweepError(`${name}: not a non-negative integer: ${text || '(empty)'}`)
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new SweepError(`${name}: too large: ${text}`)
  return n
}

/** `a`, or the range `a..b` (inclusive), or `a..b:step`. */
function integerItems(name: string, item: string): number[] {
  const m = /^(\d+)\.\.(\d+)(?::(\d+))?$/.exec(item)
  if (!m) return [integerItem(name, item)]
  const [from, to] = [integerItem(name, m[1]), integerItem(name, m[2])]
  const step = m[3] === undefined ? 1 : integerItem(name, m[3])
  if (step === 0 || to < from) throw new SweepError(`${name}: ${item} is an empty range (a..b:step, a <= b, step >= 1)`)
  if ((to - from) / step >= 100_000) throw new SweepError(`${name}: ${item} has too many values`)
  const out: number[] = []
  for (let v = from; v <= to; v += step) out.push(v)
  return out
}

function noRepeats(name: string, values: readonly unknown[]): void {
  const seen = new Set<unknown>()
  for (const v of values) {
    if (seen.has(v)) throw new SweepError(`${name} lists ${String(v)} twice`)
    seen.add(v)
  }
}

/** The values of `--param name=v1,v2,...` (integers, `a..b` ranges; engine names for engine). */
export function parseParam(text: string): { name: ParamName; values: (number | EngineName)[] } {
  const eq = text.indexOf('=')
  if (eq < 0) throw new SweepError(`--param ${text}: expected name=v1,v2,...`)
  const name = paramName(text.slice(0, eq))
  const items = text.slice(eq + 1).split(',')
  const values =
    name === 'engine' ? items.map((v) => engineValue(v)) : items.flatMap((v) => integerItems(FLAG[name], v.trim()))
  noRepeats(FLAG[name], values)
  return { name, values }
}

function engineValue(text: string): EngineName {
  const e = ENGINES.find((n) => n === text.trim())
  if (e === undefined) throw new SweepError(`engine: ${text} is not one of ${ENGINES.join(', ')}`)
  return e
}

function seedItem(text: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text)) throw new SweepError(`--seeds: not a u64 (decimal or 0x hex): ${text}`)
  const n = BigInt(text)
  if (n >= 1n << 64n) throw new SweepError(`--seeds: ${text} is not below 2^64`)
  return n
}

/**
 * `--seeds`: a count N (the seeds 1..N), or a comma list of seeds and
 * inclusive ranges `a..b`. Runs that follow on are joined; a seed given twice
 * is an error (it would run the same task twice).
 */
export function parseSeeds(text: string): SeedRun[] {
  const items = text.split(',').map((s) => s.trim())
  if (items.length === 1 && /^\d+$/.test(items[0])) {
    const count = seedItem(items[0])
    if (count === 0n) throw new SweepError('--seeds: a count of at least 1 (or a range a..b)')
    return [{ from: 1n, to: count }]
  }
  return seedRuns(
    items.map((item) => {
      const m = /^(\w+)\.\.(\w+)$/.exec(item)
      const run = m ? { from: seedItem(m[1]), to: seedItem(m[2]) } : { from: seedItem(item), to: seedItem(item) }
      if (run.to < run.from) throw new SweepError(`--seeds: ${item} is an empty range (a..b needs a <= b)`)
      return run
    }),
  )
}

/** Joins runs that follow on; refuses a seed in two runs. */
function seedRuns(runs: SeedRun[]): SeedRun[] {
  const sorted = [...runs].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0))
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].from <= sorted[i - 1].to) throw new SweepError(`--seeds: seed ${sorted[i].from} is given twice`)
  const out: SeedRun[] = []
  for (const r of runs) {
    const last = out[out.length - 1]
    if (last !== undefined && last.to + 1n === r.from) last.to = r.to
    else out.push({ ...r })
  }
  return out
}

/** The number of seeds in the runs. */
export const seedCount = (seeds: readonly SeedRun[]): number =>
  Number(seeds.reduce((n, r) => n + (r.to - r.from + 1n), 0n))

/**
 * The grid of `input`: each parameter not given takes its single vmbind
 * default (the engine: `engine`), the seeds default to 1. Every value is
 * checked as vmbind checks it (the checks are per parameter, so every point is valid).
 */
export function gridOf(input: GridInput, engine: EngineName): Grid {
  const p = input.params ?? {}
  const grid: Grid = {
    engine: p.engine ?? [engine],
    ops: p.ops ?? [defaultParams.ops],
    window: p.window ?? [defaultParams.window],
    maxPages: p.maxPages ?? [defaultParams.maxPages],
    objects: p.objects ?? [defaultParams.objects],
    mapPercent: p.mapPercent ?? [defaultParams.mapPercent],
    seeds: input.seeds ?? [{ from: 1n, to: 1n }],
    traceHash: input.traceHash ?? true,
  }
  for (const name of PARAMS) {
    if (grid[name].length === 0) throw new SweepError(`${FLAG[name]}: no values`)
    noRepeats(FLAG[name], grid[name])
    if (name === 'engine') continue
    for (const v of grid[name]) {
      try {
        validateParams({ ...defaultParams, [name]: v })
      } catch (err) {
        throw new SweepError(`${FLAG[name]}=${v}: ${(err as Error).message.replace(/^EINVAL: vmbind: /, '')}`)
      }
    }
  }
  const tasks = pointCount(grid) * seedCount(grid.seeds)
  if (!(tasks <= MAX_TASKS)) throw new SweepError(`the grid has ${tasks} tasks, more than ${MAX_TASKS}`)
  return grid
}

/**
 * A grid file: one JSON object whose keys are parameters (as `--param`
 * names them) with a list of values (or one value), and `seeds` (a count, a
 * string as `--seeds` takes, or a list of seeds).
 */
export function gridInputOfJson(text: string, file: string): GridInput {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new SweepError(`${file}: not JSON: ${(err as Error).message}`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new SweepError(`${file}: a grid file is one JSON object: {"ops": [1000, 2000], "seeds": "1..8", ...}`)
  const input: GridInput = { params: {} }
  for (const [key, raw] of Object.entries(json)) {
    if (key === 'seeds') {
      const seeds = Array.isArray(raw) ? raw.join(',') : String(raw)
      input.seeds = parseSeeds(Array.isArray(raw) && raw.length === 1 ? `${seeds}..${seeds}` : seeds)
      continue
    }
    let name: ParamName
    try {
      name = paramName(key)
    } catch (err) {
      throw new SweepError(`${file}: ${(err as Error).message}`)
    }
    const list = Array.isArray(raw) ? raw : [raw]
    if (list.length === 0 || !list.every((v) => typeof v === 'number' || typeof v === 'string'))
      throw new SweepError(`${file}: ${key}: a list of ${name === 'engine' ? 'engine names' : 'integers'}`)
    try {
      ;(input.params as Record<string, unknown>)[name] = parseParam(`${key}=${list.join(',')}`).values
    } catch (err) {
      throw new SweepError(`${file}: ${(err as Error).message}`)
    }
  }
  return input
}

/** The number of grid points (seeds apart). */
export const pointCount = (grid: Grid): number => PARAMS.reduce((n, p) => n * grid[p].length, 1)

/** The number of tasks: points times seeds. */
export const taskCount = (grid: Grid): number => pointCount(grid) * seedCount(grid.seeds)

/** The parameters that take more than one value, in task order. */
export const varied = (grid: Grid): ParamName[] => PARAMS.filter((p) => grid[p].length > 1)

/** Grid point `index`, mixed radix over PARAMS, the last the fastest. */
export function pointOf(grid: Grid, index: number): Point {
  const point: Partial<Record<ParamName, number | EngineName>> = {}
  let rest = index
  for (let i = PARAMS.length - 1; i >= 0; i--) {
    const values = grid[PARAMS[i]]
    point[PARAMS[i]] = values[rest % values.length]
    rest = Math.floor(rest / values.length)
  }
  return point as Point
}

/** The `n`-th seed of the runs. */
function seedAt(seeds: readonly SeedRun[], n: number): bigint {
  let rest = BigInt(n)
  for (const r of seeds) {
    const size = r.to - r.from + 1n
    if (rest < size) return r.from + rest
    rest -= size
  }
  throw new RangeError(`seed ${n} is past the seeds`)
}

/** Task `index`: its grid point and seed. */
export function taskOf(grid: Grid, index: number): Task {
  const seeds = seedCount(grid.seeds)
  const point = Math.floor(index / seeds)
  return {
    index,
    point,
    params: { ...pointOf(grid, point), seed: seedAt(grid.seeds, index % seeds) },
    traceHash: grid.traceHash,
  }
}

/** The seeds as `--seeds` takes them: `1..32`, `5..5` (one seed, not a count), `1..4,9`. */
export const seedsText = (seeds: readonly SeedRun[]): string =>
  seeds.map((r) => (r.from === r.to && seeds.length > 1 ? `${r.from}` : `${r.from}..${r.to}`)).join(',')

/**
 * The grid as text, one line per parameter and one for the seeds, and a last line when the traces are
 * not hashed (so a sweep hashed before keeps its id): what `sweepId` hashes.
 */
export function gridText(grid: Grid): string {
  const lines = PARAMS.map((p) => `${FLAG[p]}=${grid[p].join(',')}`)
  const trace = grid.traceHash ? '' : 'trace-hash=off\n'
  return `drmsim sweep vmbind v1\n${lines.join('\n')}\nseeds=${seedsText(grid.seeds)}\n${trace}`
}

/** The sweep's identity: FNV-1a 64 of its grid text, 16 hex digits. Shards of one sweep share it. */
export const sweepId = (grid: Grid): string => new Fnv1a64().update(gridText(grid)).value.toString(16).padStart(16, '0')
