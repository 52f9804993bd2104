/**
 * The sweep pool's worker threads, which can be started before the pool
 * knows its tasks. A worker thread takes 80-90 ms to boot (Node's own
 * start-up, then the task code and the addon); `drmsim sweep` starts its
 * threads first thing (lib/cli/sweep-early.ts), so that they boot while the
 * command line loads and the grid is read, instead of after: the calling
 * thread and the worker threads then claim their first tasks together.
 *
 * A thread started ahead waits, unreferenced (it does not keep the process
 * alive), for the message that starts it (`WorkerStart`, pool.ts). One that
 * stops before it is taken is left behind, and one the pool does not need
 * is stopped when the pool takes its threads.
 */
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

/** The worker threads' script in the built package (worker.js beside this module). */
export const WORKER_FILE = path.join(__dirname, 'worker.js')

/** Workers when a sweep names none: one per core this process may use. */
export const defaultWorkers = (): number => os.availableParallelism()

/** Threads started ahead, not taken and not stopped, by script. */
const booted = new Map<string, Set<Worker>>()

/**
 * Starts `count` worker threads of `file` ahead of the pool that will take
 * them; returns them (for tests). None when the script is not there (the
 * sources run under a test runner, not the built package).
 */
export function bootThreads(count: number, file = WORKER_FILE): Worker[] {
  if (count <= 0 || !existsSync(file)) return []
  const ahead = booted.get(file) ?? new Set()
  booted.set(file, ahead)
  const started: Worker[] = []
  for (let i = 0; i < count; i++) {
    const worker = new Worker(file)
    // An error at boot is the pool's to report, if it takes this thread:
    // it takes a stopped one never, and starts another in its place.
    const stop = (): void => {
      ahead.delete(worker)
    }
    worker.on('error', stop).on('exit', stop)
    worker.unref()
    ahead.add(worker)
    started.push(worker)
  }
  return started
}

/** Threads of `file` started ahead and still waiting to be taken. */
export const waiting = (file = WORKER_FILE): number => booted.get(file)?.size ?? 0

/**
 * `count` worker threads of `file` for a pool: those started ahead first,
 * new ones for the rest. Threads started ahead that are left over are
 * stopped. Each is referenced again, so that the process waits for it.
 */
export function takeThreads(count: number, file = WORKER_FILE): Worker[] {
  const ahead = [...(booted.get(file) ?? [])]
  booted.delete(file)
  const taken = ahead.splice(0, count)
  for (const surplus of ahead) void surplus.terminate()
  while (taken.length < count) taken.push(new Worker(file))
  for (const w of taken) w.ref()
  return taken
}
