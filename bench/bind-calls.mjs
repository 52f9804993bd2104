#!/usr/bin/env node
// One request at a time (`bind`/`unbind`) and `bindBatch` from JavaScript on
// the default vmbind workload, native engine, for instruction counts and A/B
// timings (issue 18; bench/RESULTS.md says how it is used):
//
//   node bench/bind-calls.mjs <single|batch> <requests> [repeats] [root]
//
// runs the requests `repeats` times (default 1), each time on a fresh VA
// space, and prints `<mode> <requests> <ns per request>` for the last run
// (the earlier ones warm the JIT). `root` is
// a copy of the package (its dist/, index.js and addon) to time instead of
// this one: a build kept from before a change, for alternating A/B runs. For
// instructions, run it under `valgrind --tool=cachegrind --cache-sim=no` with
// 1 and 3 repeats and divide the difference by twice the requests: start-up
// and the workload's set-up cancel out.
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { bindEach, bindInBatches, requestObjects } from './bind-loops.mjs'

const [mode = 'single', n = '200000', repeats = '1', rootArg] = process.argv.slice(2)
const require = createRequire(import.meta.url)
const root = rootArg ? path.resolve(rootArg) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const drmsim = require(path.join(root, 'dist/index.js'))
const { requests } = require(path.join(root, 'dist/workloads/vmbind.js'))

const size = Number(n)
const reqs = requestObjects(drmsim, requests, {}, size)
const BATCH = 4096
const batch = new drmsim.BindBatch(BATCH)
const newVm = () =>
  new drmsim.GpuVm({ name: 'bench', range: 1n << 48n, reserve: { offset: 0n, range: 4096n }, engine: 'native' })

/** One run of the requests on a fresh VA space: ns per request. */
function run() {
  const vm = newVm()
  const started = process.hrtime.bigint()
  if (mode === 'single') bindEach(vm, reqs)
  else if (mode === 'batch') bindInBatches(vm, batch, BATCH, reqs)
  else {
    throw new Error(`unknown mode ${mode} (single or batch)`)
  }
  const ns = Number(process.hrtime.bigint() - started) / size
  const mappings = vm.mappingCount
  vm.destroy()
  return [ns, mappings]
}
let result = [0, 0]
for (let k = 0; k < Number(repeats); k++) result = run()
console.log(`${mode} ${size} ${result[0].toFixed(1)} mappings ${result[1]}`)
