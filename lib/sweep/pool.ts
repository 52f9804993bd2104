/**
 * Runs a sweep's tasks: on the calling thread for one worker, else on a pool
 * of worker threads (node:worker_threads, worker.ts), each kept a task
 * ahead while the queue is long, so that none waits for the next; near the
 * end a worker gets a task only once it is idle, so that no task waits
 * behind another while a worker has nothing to do. Tasks are handed out
 * costliest first (most requests; the reference engine's count many times
 * the native one's), which keeps the workers busy to the end; the order
 * they finish in is the caller's to undo (results carry their task index).
 */
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { DrmError, type Errno } from '../base/errors.js'
import { type Grid, type Point, taskOf } from './grid.js'
import { runTask, type TaskOutput } from './task.js'

/** A task as sent to a worker thread. */
export interface TaskMessage {
  index: number
  params: Point & { seed: bigint }
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
  /** Worker threads; 1 runs the tasks on the calling thread. */
  workers: number
  /** Called once per task as it finishes, in no set order. */
  onDone: (done: Done) => void
  /** The worker script (default: worker.js beside this module, in the built package). */
  workerFile?: string
}

/** How long a task takes, roughly, to order them costliest first. */
const cost = (p: Point): number => p.ops * (p.engine === 'reference' ? 20 : 1) + 1

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
    return { index: t.index, params: t.params }
  })
  const order = tasks.map((t, i) => ({ t, c: cost(t.params), i }))
  order.sort((a, b) => b.c - a.c || a.i - b.i)
  const queue = order.map((o) => o.t)
  const workers = Math.max(1, Math.min(opts.workers, queue.length))
  if (queue.length === 0) return
  if (workers === 1) return runHere(queue, opts)
  return runPool(queue, workers, opts)
}

/** One worker: the calling thread, yielding to the event loop now and then (the progress bar draws). */
async function runHere(queue: readonly TaskMessage[], opts: PoolOptions): Promise<void> {
  let lastYield = Date.now()
  for (const t of queue) {
    const started = process.hrtime.bigint()
    let output: TaskOutput
    try {
      output = runTask(t.params)
    } catch (err) {
      const e = err as { message?: unknown; code?: unknown }
      throw taskError(t, String(e?.message ?? err), typeof e?.code === 'string' ? e.code : undefined)
    }
    opts.onDone({ index: t.index, output, worker: 0, wallNs: Number(process.hrtime.bigint() - started) })
    if (Date.now() - lastYield > 50) {
      await new Promise((resolve) => setImmediate(resolve))
      lastYield = Date.now()
    }
  }
}

/** Tasks a worker holds (the one it runs and the next) while more than `AHEAD` a worker are left. */
const AHEAD = 2

function runPool(queue: readonly TaskMessage[], size: number, opts: PoolOptions): Promise<void> {
  const file = opts.workerFile ?? path.join(__dirname, 'worker.js')
  return new Promise<void>((resolve, reject) => {
    const byIndex = new Map(queue.map((t) => [t.index, t]))
    let next = 0
    let done = 0
    let over = false
    const pool: { worker: Worker; inFlight: number }[] = []
    const end = (err?: Error): void => {
      if (over) return
      over = true
      for (const w of pool) void w.worker.terminate()
      if (err) reject(err)
      else resolve()
    }
    const feed = (w: (typeof pool)[number]): void => {
      const ahead = queue.length - next > size * AHEAD ? AHEAD : 1
      while (w.inFlight < ahead && next < queue.length) {
        w.inFlight++
        w.worker.postMessage(queue[next++])
      }
    }
    for (let id = 1; id <= size; id++) {
      const w = { worker: new Worker(file), inFlight: 0 }
      pool.push(w)
      w.worker.on('message', (reply: WorkerReply) => {
        if (over) return
        w.inFlight--
        const t = byIndex.get(reply.index)!
        if (reply.error) return end(taskError(t, reply.error.message, reply.error.code))
        try {
          opts.onDone({ index: reply.index, output: reply.output, worker: id, wallNs: reply.wallNs })
        } catch (err) {
          return end(err as Error)
        }
        if (++done === queue.length) return end()
        feed(w)
      })
      w.worker.on('error', (err) => end(err))
      w.worker.on('exit', (code) => {
        if (!over) end(new Error(`a sweep worker thread stopped (exit code ${code}) with tasks left`))
      })
      feed(w)
    }
  })
}
