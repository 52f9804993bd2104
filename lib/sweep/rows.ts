/**
 * The result rows of a sweep, one per task: which sweep (its id) and task,
 * the task's parameters, and what the run measured. A row holds nothing that
 * depends on where or how fast it ran, so the rows of a sweep are the same
 * bytes however it is sharded or how many workers ran it; timings go to
 * their own file (`--timing`).
 */
import type { EngineName } from '../contract/vm.js'
import { SweepError } from './error.js'
import type { Task } from './grid.js'
import { MEASURES, type TaskResult } from './task.js'

/** The columns before the measures: the sweep, the task, and its parameters. */
export const KEY_COLUMNS = [
  'sweep',
  'task',
  'tasks',
  'point',
  'seed',
  'engine',
  'ops',
  'window',
  'maxPages',
  'objects',
  'mapPercent',
] as const

/** Every column of a row, in the order JSON Lines and CSV write them. */
export const COLUMNS = [...KEY_COLUMNS, ...MEASURES] as const
export type Column = (typeof COLUMNS)[number]

export type Row = TaskResult & {
  /** The sweep's id (grid.ts `sweepId`). */
  sweep: string
  /** The task's index, and how many the sweep has. */
  task: number
  tasks: number
  /** The grid point's index. */
  point: number
  /** The seed, in decimal (a u64 can be past 2^53). */
  seed: string
  engine: EngineName
  ops: number
  window: number
  maxPages: number
  objects: number
  mapPercent: number
}

export function rowOf(sweep: string, tasks: number, task: Task, result: TaskResult): Row {
  const { seed, ...point } = task.params
  return { sweep, task: task.index, tasks, point: task.point, seed: String(seed), ...point, ...result }
}

/** A row as one line of JSON, its keys in column order. */
export function rowLine(row: Row): string {
  const ordered: Record<string, unknown> = {}
  for (const c of COLUMNS) ordered[c] = row[c]
  return JSON.stringify(ordered)
}

const TEXT = new Set<Column>(['sweep', 'seed', 'engine', 'traceFnv1a64', 'stateFnv1a64'])

/** A row read back from a line of a sweep's JSON Lines output; `where` (file:line) names it in errors. */
export function parseRow(line: string, where: string): Row {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    throw new SweepError(`${where}: not JSON (a sweep's --out file has one JSON object per line)`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new SweepError(`${where}: not a result row (a JSON object)`)
  const o = json as Record<string, unknown>
  for (const c of COLUMNS) {
    const v = o[c]
    if (c === 'fragmentation' ? typeof v !== 'number' : TEXT.has(c) ? typeof v !== 'string' : !Number.isSafeInteger(v))
      throw new SweepError(
        `${where}: not a result row of drmsim sweep: ${c} is ${v === undefined ? 'missing' : `${JSON.stringify(v)}`}`,
      )
  }
  const extra = Object.keys(o).find((k) => !(COLUMNS as readonly string[]).includes(k))
  if (extra !== undefined) throw new SweepError(`${where}: not a result row of drmsim sweep: unknown column ${extra}`)
  const row = o as Row
  if (row.task < 0 || row.task >= row.tasks) throw new SweepError(`${where}: task ${row.task} of ${row.tasks}`)
  return row
}
