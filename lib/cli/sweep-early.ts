/**
 * What `drmsim sweep` does before its module loads: it starts its worker
 * threads (lib/sweep/threads.ts), so that they boot meanwhile. Only the
 * count is read here, from `--workers` as commander will read it (the last
 * one given wins); the command's own parsing decides what runs, and the pool
 * starts or stops threads to match it when the guess was wrong.
 */
import { bootThreads, defaultWorkers } from '../sweep/threads.js'
import { integer } from './parsers.js'

/** `--workers`'s parser, here and in the command's options. */
export const parseWorkers = integer(1, 1024)

/**
 * The worker count `args` (what follows `sweep`) asks for: the last
 * `--workers` value, the default without one; undefined for a value the
 * command will refuse.
 */
export function workersAsked(args: readonly string[]): number | undefined {
  let value: string | null = null
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') break
    if (args[i] === '--workers') value = args[++i] ?? ''
    else if (args[i].startsWith('--workers=')) value = args[i].slice('--workers='.length)
  }
  if (value === null) return defaultWorkers()
  try {
    return parseWorkers(value)
  } catch {
    return undefined
  }
}

/** Starts the worker threads a `drmsim sweep` with these `args` will run on, unless it will run no task. */
export function startSweepThreads(args: readonly string[]): void {
  if (args.some((a) => a === '--list' || a === '--help' || a === '-h')) return
  const workers = workersAsked(args)
  if (workers !== undefined) bootThreads(workers - 1)
}
