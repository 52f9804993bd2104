/**
 * A sweep's worker thread (pool.ts starts it from the built dist/sweep/):
 * runs each task it is sent and posts back its output and the time it took,
 * or the error it threw.
 */
import { parentPort } from 'node:worker_threads'
import type { TaskMessage, WorkerReply } from './pool.js'
import { runTask } from './task.js'

const port = parentPort
if (port === null) throw new Error('lib/sweep/worker.js runs as a worker thread of the sweep pool')
port.on('message', (task: TaskMessage) => {
  const started = process.hrtime.bigint()
  let reply: WorkerReply
  try {
    const output = runTask(task.params)
    reply = { index: task.index, output, wallNs: Number(process.hrtime.bigint() - started) }
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown }
    reply = {
      index: task.index,
      error: { message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : undefined },
    }
  }
  port.postMessage(reply)
})
