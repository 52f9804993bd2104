/**
 * A sweep's worker thread (pool.ts starts it from the built dist/sweep/):
 * claims tasks from the counter it shares with the other workers, runs each
 * and posts back its output and the time it took, or the error it threw;
 * it ends once no task is left.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { claim, errorParts, type WorkerReply, type WorkerStart } from './pool.js'
import { runTask } from './task.js'

const port = parentPort
if (port === null) throw new Error('lib/sweep/worker.js runs as a worker thread of the sweep pool')
const { tasks, claims } = workerData as WorkerStart
for (let at = claim(claims); at < tasks.length; at = claim(claims)) {
  const task = tasks[at]
  const started = process.hrtime.bigint()
  let reply: WorkerReply
  try {
    const output = runTask(task.params, task.traceHash)
    reply = { index: task.index, output, wallNs: Number(process.hrtime.bigint() - started) }
  } catch (err) {
    reply = { index: task.index, error: errorParts(err) }
  }
  port.postMessage(reply)
}
