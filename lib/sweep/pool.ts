/**
 * Runs a sweep's tasks on N workers: the calling thread and N - 1 worker
 * threads (node:worker_threads, worker.ts; started ahead when threads.ts
 * has some waiting). Each worker claims the next task
 * from a counter they share (Atomics on a SharedArrayBuffer), so none waits
 * for another to hand it one, and none is idle while a task is left. Tasks
 * are claimed costliest first (most requests; the reference engine's count
 * many times the native one's), which keeps the workers busy to the end; the
 * order they finish in is the caller's to undo (results carry their task
 * index). The calling thread runs tasks too: it would otherwise wait, and it
 * starts on the first while the worker threads boot.
 */
import type { Worker } from 'node:worker_threads'
import { DrmError, type Errno } from '../base/errors.js'
import { type Grid, type Point, taskOf } from './grid.js'
import { runTask, type TaskOutput } from './task.js'
import { takeThreads, WORKER_FILE } from './threads.js'

/** A task as the workers see it. */
export interface TaskMessage {
  index: number
  params: Point & { seed: bigint }
  /** Whether the task hashes its trace (the grid's `traceHash`). */
  traceHash: boolean
}

/**
 * The message that starts a worker thread (its first and only one): the
 * tasks, in the order they are claimed, and the claim counter.
 */
export interface WorkerStart {
  tasks: readonly TaskMessage[]
  /** One Int32: the position in `tasks` of the next task to claim (Atomics.add). */
  claims: Int32Array
}

/** A worker thread's answer: the task's output and its wall time, or its error. */
export type WorkerReply =
  | { index: number; output: TaskOutput; wallNs: number; error?: undefined }
  | { index: number; error: { message: string; code?: string } }

export interface Done {
  index: number
  output: TaskOutput
  /** Which worker ran it (0 for the calling thread) and how long it took, in nanoseconds. */
  worker: number
  wallNs: number
}

export interface PoolOptions {
  /** Workers: the calling thread and `workers - 1` worker threads. */
  workers: number
  /** Called once per task as it finishes, in no set order. */
  onDone: (done: Done) => void
  /** The worker threads' script (default: threads.ts `WORKER_FILE`, in the built package). */
  workerFile?: string
  /** What runs a task on the calling thread (default: `runTask`; tests put a stand-in here, as in `workerFile`). */
  runTask?: (params: TaskMessage['params'], traceHash: boolean) => TaskOutput
}

/** How long a task takes, roughly, to order them costliest first. */
const cost = (p: Point): number => p.ops * (p.engine === 'reference' ? 20 : 1) + 1

/** What a task's error says, as a worker thread posts it: its message and, for a DrmError, its errno. */
export function errorParts(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown }
  return { message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : undefined }
}

/** The error a task threw, naming the task; a DrmError keeps its errno. */
function taskError(t: TaskMessage, message: string, code: string | undefined): Error {
  const what = `task ${t.index} (seed ${t.params.seed}, ops ${t.params.ops}, engine ${t.params.engine})`
  const text = message.replace(/^E[A-Z]+: /, '')
  return code !== undefined && /^E[A-Z]+$/.test(code)
    ? new DrmError(code as Errno, `${what}: ${text}`)
    : new Error(`${what}: ${message}`)
}

/** Runs the tasks `indices` of `grid`, resolving once all are done (rejecting on the first that fails). */
export async function runTasks(grid: Grid, indices: readonly number[], opts: PoolOptions): Promise<void> {
  const tasks = indices.map((i) => {
    const t = taskOf(grid, i)
    return { index: t.index, params: t.params, traceHash: t.traceHash }
  })
  const order = tasks.map((t, i) => ({ t, c: cost(t.params), i }))
  order.sort((a, b) => b.c - a.c || a.i - b.i)
  const queue = order.map((o) => o.t)
  const workers = Math.max(1, Math.min(opts.workers, queue.length))
  if (queue.length === 0) return
  return runPool(queue, workers, opts)
}

/** The next task's position in the queue, claimed (past the end once all are). */
export const claim = (claims: Int32Array): number => Atomics.add(claims, 0, 1)

/** Runs the queue on the calling thread and `size - 1` worker threads. */
function runPool(queue: readonly TaskMessage[], size: number, opts: PoolOptions): Promise<void> {
  const run = opts.runTask ?? runTask
  const claims = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT))
  const byIndex = new Map(queue.map((t) => [t.index, t]))
  const threads: Worker[] = []
  let done = 0
  let over = false
  let settle!: { resolve: () => void; reject: (err: Error) => void }
  const finished = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject }
  })
  const end = (err?: Error): void => {
    if (over) return
    over = true
    // No task is claimed after this; the worker threads stop where they are.
    Atomics.store(claims, 0, queue.length)
    for (const w of threads) void w.terminate()
    if (err) settle.reject(err)
    else settle.resolve()
  }
  const finish = (d: Done): void => {
    try {
      opts.onDone(d)
    } catch (err) {
      end(err as Error)
      return
    }
    if (++done === queue.length) end()
  }
  if (size > 1) {
    const start: WorkerStart = { tasks: queue, claims }
    for (const [i, w] of takeThreads(size - 1, opts.workerFile ?? WORKER_FILE).entries()) {
      const id = i + 1
      threads.push(w)
      w.on('message', (reply: WorkerReply) => {
        if (over) return
        if (reply.error) return end(taskError(byIndex.get(reply.index)!, reply.error.message, reply.error.code))
        finish({ index: reply.index, output: reply.output, worker: id, wallNs: reply.wallNs })
      })
      w.on('error', (err) => end(err))
      // A worker thread ends once no task is left to claim; any other end, with tasks not done, is a failure.
      w.on('exit', (code) => {
        if (code !== 0 && !over) end(new Error(`a sweep worker thread stopped (exit code ${code}) with tasks left`))
      })
      w.postMessage(start)
    }
  }
  // The calling thread's share: it claims and runs tasks until none is left,
  // yielding to the event loop after each (the worker threads' results are
  // taken and the progress bar drawn there).
  const runHere = async (): Promise<void> => {
    for (let at = claim(claims); at < queue.length && !over; at = claim(claims)) {
      const t = queue[at]
      const started = process.hrtime.bigint()
      let output: TaskOutput
      try {
        output = run(t.params, t.traceHash)
      } catch (err) {
        const { message, code } = errorParts(err)
        end(taskError(t, message, code))
        return
      }
      finish({ index: t.index, output, worker: 0, wallNs: Number(process.hrtime.bigint() - started) })
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  return Promise.all([runHere(), finished]).then(() => undefined)
}
