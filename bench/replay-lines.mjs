// Replay of bind/unbind lines alone (issue 18), for timing and instruction counts:
//   node bench/replay-lines.mjs [ops=100000] [reps=3]
// writes the default vmbind workload's first `ops` requests as JSON Lines (as
// the "Replay of ... JSON Lines" block of bench/run.mjs does), replays the file
// `reps` times with `replayFile` (native engine, records discarded) and prints
// each run's ns per line, their median and the summary's state hash.
// Instructions per line: run it under
//   valgrind --tool=cachegrind --cache-sim=no node bench/replay-lines.mjs <ops> 1
// for two values of ops and divide the difference by the difference in lines.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { vmbindLines } from './vmbind-lines.mjs'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const drmsim = require(path.join(root, 'dist/index.js'))
const { requests } = require(path.join(root, 'dist/workloads/vmbind.js'))

const ops = Number(process.argv[2] ?? 100_000)
const reps = Number(process.argv[3] ?? 3)
const lines = vmbindLines(drmsim, requests, ops)
const dir = mkdtempSync(path.join(os.tmpdir(), 'drmsim-replay-lines-'))
const file = path.join(dir, 'binds.jsonl')
writeFileSync(file, `${lines.join('\n')}\n`)
const runs = []
let hash = ''
try {
  for (let k = 0; k < reps; k++) {
    const t = process.hrtime.bigint()
    const { summary } = await drmsim.replayFile(file, { engine: 'native' })
    runs.push(Number(process.hrtime.bigint() - t) / lines.length)
    hash = summary.stateFnv1a64
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
const median = [...runs].sort((a, b) => a - b)[runs.length >> 1]
console.log(
  `${lines.length} lines: ${runs.map((ns) => ns.toFixed(0)).join(' ')} ns a line; median ${median.toFixed(0)} ns ` +
    `(${Math.round(1e9 / median).toLocaleString('en-US')} lines/s); state ${hash}`,
)
