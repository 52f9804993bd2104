/**
 * Merging the shards of a sweep: their rows, read back, put in task order,
 * after checking that they are one sweep (one id, one task count) and that
 * every task is there exactly once. Written again, they are the bytes the
 * unsharded sweep writes.
 */
import { SweepError } from './error.js'
import { parseRow, type Row } from './rows.js'

export interface ShardFile {
  /** The file's name, for error messages. */
  name: string
  text: string
}

/** Lists up to `most` numbers, with how many more there are. */
function some(ns: readonly number[], most = 10): string {
  const shown = ns.slice(0, most).join(', ')
  return ns.length > most ? `${shown}, ... (${ns.length - most} more)` : shown
}

/** The rows of every file, in task order; a SweepError for rows of another sweep, a task twice, or tasks missing. */
export function mergeRows(files: readonly ShardFile[]): Row[] {
  let first: { row: Row; where: string } | undefined
  const seen = new Map<number, string>()
  const rows: Row[] = []
  const names = new Set<string>()
  for (const f of files) {
    if (names.has(f.name)) throw new SweepError(`${f.name} is given twice`)
    names.add(f.name)
    const lines = f.text.split('\n')
    if (lines[lines.length - 1] === '') lines.pop()
    lines.forEach((line, i) => {
      const where = `${f.name}:${i + 1}`
      const row = parseRow(line, where)
      if (first === undefined) first = { row, where }
      else if (row.sweep !== first.row.sweep || row.tasks !== first.row.tasks)
        throw new SweepError(
          `${where} is a row of another sweep (id ${row.sweep}, ${row.tasks} tasks) than ${first.where} ` +
            `(id ${first.row.sweep}, ${first.row.tasks} tasks): merge the shards of one sweep, run with the same grid and seeds`,
        )
      const before = seen.get(row.task)
      if (before !== undefined)
        throw new SweepError(`task ${row.task} is there twice: ${before} and ${where} (a shard given twice?)`)
      seen.set(row.task, where)
      rows.push(row)
    })
  }
  if (first === undefined) throw new SweepError('no result rows in the files given')
  const tasks = first.row.tasks
  if (rows.length < tasks) {
    const missing: number[] = []
    for (let i = 0; i < tasks; i++) if (!seen.has(i)) missing.push(i)
    throw new SweepError(
      `${missing.length} of the sweep's ${tasks} tasks are missing: ${some(missing)}${shardHint(missing, tasks)}`,
    )
  }
  return rows.sort((a, b) => a.task - b.task)
}

/** Which shard the missing tasks are, when they are exactly one round-robin shard's (shard.ts). */
function shardHint(missing: readonly number[], tasks: number): string {
  const [s, d] = [missing[0], missing.length > 1 ? missing[1] - missing[0] : 0]
  const one = d > s && missing.every((m, i) => m === s + i * d) && s + missing.length * d >= tasks
  return one ? ` (the tasks of --shard ${s}/${d}: is its file left out?)` : ' (a shard left out?)'
}
