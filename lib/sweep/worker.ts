/**
 * A sweep's worker thread (pool.ts starts it from the built dist/sweep/,
 * possibly ahead of its tasks: threads.ts): loads the task code, waits for
 * its start message, then claims tasks from the counter it shares with the
 * other workers, runs each and posts back its output and the time it took,
 * or the error it threw; it ends once no task is left.
 */
import { parentPort } from 'node:worker_threads'
import { claim, errorParts, type WorkerReply, type WorkerStart } from './pool.js'
import { runTask } from './task.js'

const port = parentPort
if (port === null) throw new Error('lib/sweep/worker.js runs as a worker thread of the sweep pool')
port.once('message', ({ tasks, claims }: WorkerStart) => {
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
})
