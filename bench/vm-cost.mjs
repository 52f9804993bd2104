// Bytes one VA space costs, kept alive: JS heap and resident memory per VA
// space, after garbage collection, for each engine and for the layers of the
// native one (the napi-rs NativeVm alone, the engine's NativeVmCore, the
// public GpuVm, a `vm.create` line of a replay), each in a process of its
// own (memory freed by one would be reused by the next).
// Run: node bench/vm-cost.mjs [count] (10^5)
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { GpuVm, Replayer } = require(path.join(root, 'dist/index.js'))
const { NativeVmCore, loadBinding } = require(path.join(root, 'dist/native/gpuvm.js'))
const { NativeVm } = loadBinding()
const n = Number(process.argv[2] ?? 100_000)
const reserve = { offset: 0n, range: 0x1000n }

const settle = async () => {
  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage()
}

const parts = {
  'native: binding NativeVm': (i) => new NativeVm(`vm${i}`, 0n, 1n << 48n, 0n, 0x1000n),
  'native: engine NativeVmCore': (i) => new NativeVmCore({ name: `vm${i}`, start: 0n, range: 1n << 48n, reserve }),
  'native: GpuVm': (i) => new GpuVm({ name: `vm${i}`, range: 1n << 48n, reserve, engine: 'native' }),
  'reference: GpuVm': (i) => new GpuVm({ name: `vm${i}`, range: 1n << 48n, reserve, engine: 'reference' }),
  'native: replay vm.create line': replayLines('native'),
  'reference: replay vm.create line': replayLines('reference'),
}

/** Feeds one `vm.create` line per call to a replay (its device made beforehand). */
function replayLines(engine) {
  let replayer
  return (i) => {
    replayer ??= new Replayer({ engine })
    replayer.feed(`{"op":"vm.create","vm":"v${i}","range":"0x1000000000000","reserve":["0","0x1000"]}`, i + 1)
  }
}

/** Heap and RSS bytes per object `make(i)` keeps alive. */
async function cost(label, make) {
  const keep = new Array(n)
  const before = await settle()
  for (let i = 0; i < n; i++) keep[i] = make(i)
  const after = await settle()
  const heap = (after.heapUsed - before.heapUsed) / n
  const rss = (after.rss - before.rss) / n
  console.log(
    `${label.padEnd(34)} heap ${heap.toFixed(0).padStart(5)} B  rss ${rss.toFixed(0).padStart(5)} B  (rss - heap ${(rss - heap).toFixed(0)} B)`,
  )
  keep.length = 0
  await settle()
}

const part = process.argv[3]
if (part === undefined) {
  console.log(`${n} VA spaces kept alive, bytes each:`)
  for (const label of Object.keys(parts)) {
    process.stdout.write(
      execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), String(n), label], {
        encoding: 'utf8',
      }),
    )
  }
} else {
  await cost(part, parts[part])
}
