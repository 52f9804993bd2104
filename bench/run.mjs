#!/usr/bin/env node
// drmsim benchmarks: `npm run bench` (or `node bench/run.mjs [--quick|--smoke]`).
// Prints one markdown table per topic; bench/RESULTS.md records a run.
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { lcg } from './lcg.mjs'
import * as loops from './bind-loops.mjs'
import { vmbindLines } from './vmbind-lines.mjs'
// execloop: block 5's loop, shared with bench/driver-loop.mjs.
import { driverLoop } from './driver-loop.mjs'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const drmsim = require(path.join(root, 'dist/index.js'))
const { requests } = require(path.join(root, 'dist/workloads/vmbind.js'))
const { default: FlattenTree } = await import('@flatten-js/interval-tree')
const { IntervalTree: NodeIntervalTree } = require('node-interval-tree')

const mode = process.argv.includes('--smoke') ? 'smoke' : process.argv.includes('--quick') ? 'quick' : 'full'
const size = { smoke: 2_000, quick: 100_000, full: 1_000_000 }[mode]
const refSize = { smoke: 2_000, quick: 100_000, full: 1_000_000 }[mode]

const table = (title, head, rows) => {
  console.log(`\n### ${title}\n`)
  console.log(`| ${head.join(' | ')} |`)
  console.log(`| ${head.map(() => '---').join(' | ')} |`)
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
}
const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1))
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const time = (f) => {
  const t = process.hrtime.bigint()
  f()
  return Number(process.hrtime.bigint() - t)
}

console.log(
  `drmsim benchmarks (${mode}): ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, node ${process.version}`,
)

const requestObjects = (params, ops) => loops.requestObjects(drmsim, requests, params, ops)
/** A fresh native VA space shaped as the workload's. */
const nativeVm = (name) =>
  new drmsim.GpuVm({ name, range: 1n << 48n, reserve: { offset: 0n, range: 4096n }, engine: 'native' })
/**
 * Untimed runs before the timed ones: at least 300,000 requests in all. V8
 * reaches its last tier over the first 200,000-300,000 requests of a loop;
 * after a single run of 100,000 (--quick), the timed runs took 250-450 ns a
 * request, from one run to the next, where they settle at 245-270.
 */
const warmRuns = { smoke: 1, quick: 3, full: 1 }[mode]
/** ns a request of `run(vm)` over the `size` requests, on a fresh VA space. */
function onFreshVm(run) {
  const vm = nativeVm('bench')
  const ns = time(() => run(vm))
  vm.destroy()
  return ns / size
}
/**
 * The median of five runs of each of `measures` (each returns ns a request),
 * taken in rounds that run every measure once in turn: a slow stretch of
 * this VM (20-40 % for seconds at a time) then falls on all of them, not on
 * the one that ran then, and their ratios hold.
 */
function interleavedMedians(measures) {
  const runs = measures.map(() => [])
  for (let round = 0; round < 5; round++) measures.forEach((measure, i) => runs[i].push(measure()))
  return runs.map(median)
}
const { bindOne } = loops

// --- 1. vmbind -------------------------------------------------------------
const workloads = [
  ['default', {}],
  ['window 16777216, max-pages 512', { window: 16777216, maxPages: 512 }],
]
const vmbindRows = []
const BATCH = 4096
for (const [name, params] of workloads) {
  // The native engine driven request by request through the public API,
  // and the same requests through the batch API in batches of BATCH
  // requests, each filled (BindBatch.map/unmap) and applied (bindBatch) in
  // the timing; each run on a fresh VA space, after `warmRuns` untimed (the
  // whole run in Rust has no JIT to warm up; the first pass through
  // JavaScript runs in V8's baseline tiers, at 1.5-2.5x the later passes).
  const reqs = requestObjects(params, size)
  const batch = new drmsim.BindBatch(BATCH)
  const perRequestRun = () => onFreshVm((vm) => loops.bindEach(vm, reqs))
  const batchedRun = () => onFreshVm((vm) => loops.bindInBatches(vm, batch, BATCH, reqs))
  for (let i = 0; i < warmRuns; i++) {
    perRequestRun()
    batchedRun()
  }
  const wholeRun = () => drmsim.vmbind({ ...params, ops: size, engine: 'native', trace: 'off' }).loopNs / size
  const [whole, perRequest, batched] = interleavedMedians([wholeRun, perRequestRun, batchedRun])
  // The Rust share of a per-request call: GpuVm::bind/unbind in a Rust loop,
  // linking and unlinking as the public API does.
  const bindInRust = (...flags) => {
    const args = ['run', '-q', '--release', '-p', 'drmsim-core', '--example', 'vmbind', '--', '--bind', ...flags]
    args.push(String(size), ...(params.window ? [String(params.window), String(params.maxPages)] : []))
    return execFileSync('cargo', args, { cwd: root, encoding: 'utf8' })
  }
  const rustRuns = [1, 2, 3].map(() => bindInRust())
  const inRust = median(rustRuns.map((out) => Number(/bench_ns_per_request (\S+)/.exec(out)[1])))
  // What the VA space holds for each mapping left at the end of the bind
  // path (records, nodes, the objects' mapping lists; capacity included):
  // the same in every run. Again in the drm_gpuvm era, where each link also
  // holds a reference on its object's vm_bo.
  const heapOf = (out) => Number(/bench_heap_bytes_per_mapping (\S+)/.exec(out)[1])
  const heapBytes = heapOf(rustRuns[0])
  const hubHeapBytes = heapOf(bindInRust('--era=1'))
  const ref = drmsim.vmbind({ ...params, ops: refSize, engine: 'reference', trace: 'off' }).loopNs / refSize
  vmbindRows.push([
    name,
    fmt(whole),
    fmt(inRust),
    fmt(perRequest),
    fmt(batched),
    fmt(ref),
    `${fmt(ref / whole)}x`,
    fmt(heapBytes),
    fmt(hubHeapBytes),
  ])
}
table(
  `vmbind, ${size.toLocaleString('en-US')} requests (ns per request; reference: ${refSize.toLocaleString('en-US')})`,
  [
    'workload',
    'native, whole run in Rust',
    'native, bind/unbind in a Rust loop',
    'native, per request from JS (bind/unbind)',
    `native, batches of ${BATCH} from JS (bindBatch)`,
    'reference',
    'reference / native',
    'heap bytes per live mapping (bind/unbind in Rust)',
    'the same, drm_gpuvm-7.2 (vm_bo links)',
  ],
  vmbindRows,
)

// --- 1c. Atomic bind arrays (bindArray) ------------------------------------
// The default workload's requests as atomic arrays of N (bindArray) beside
// the sequential batch (bindBatch) and one call per request, each engine; and
// arrays that fail at their last request (failAt N - 1: what the array can
// touch is saved first, N - 1 requests applied, the save put back, a
// DrmBatchError thrown), timed alone: after each
// the same batch is applied with bindBatch, untimed, so the VA space moves on.
{
  const counts = {
    native: { smoke: 2_000, quick: 50_000, full: 200_000 },
    reference: { smoke: 2_000, quick: 10_000, full: 40_000 },
  }
  const rows = []
  for (const engine of ['native', 'reference']) {
    const n = counts[engine][mode]
    const reqs = requestObjects({}, n)
    const fresh = () =>
      new drmsim.GpuVm({ name: 'array', range: 1n << 48n, reserve: { offset: 0n, range: 4096n }, engine })
    const single = median(
      [1, 2, 3].map(() => {
        const vm = fresh()
        return (
          time(() => {
            loops.bindEach(vm, reqs)
          }) / n
        )
      }),
    )
    for (const N of [16, 256]) {
      const batch = new drmsim.BindBatch(N)
      const fill = (at) => {
        batch.clear()
        for (let i = at; i < Math.min(at + N, reqs.length); i++) {
          const r = reqs[i]
          r.kind === 'map' ? batch.map(r) : batch.unmap(r.addr, r.range)
        }
      }
      const chunks = (apply) =>
        median(
          [1, 2, 3].map(() => {
            const vm = fresh()
            return (
              time(() => {
                for (let at = 0; at < n; at += N) fill(at), apply(vm)
              }) / n
            )
          }),
        )
      const seq = chunks((vm) => vm.bindBatch(batch))
      const atomic = chunks((vm) => vm.bindArray(batch))
      const unwound = median(
        [1, 2, 3].map(() => {
          const vm = fresh()
          let ns = 0
          for (let at = 0; at < n; at += N) {
            fill(at)
            ns += time(() => {
              try {
                vm.bindArray(batch, { failAt: batch.length - 1 })
              } catch {}
            })
            vm.bindBatch(batch)
          }
          return ns / n
        }),
      )
      const over = (x) => `${x >= single ? '+' : ''}${fmt(((x - single) / single) * 100)}%`
      rows.push([engine, N, fmt(single), fmt(seq), fmt(atomic), over(atomic), fmt(unwound), over(unwound)])
    }
  }
  table(
    `Atomic bind arrays, default workload (native ${counts.native[mode].toLocaleString('en-US')} requests, reference ${counts.reference[mode].toLocaleString('en-US')}; ns per request)`,
    [
      'engine',
      'N',
      'per request (bind/unbind)',
      'bindBatch of N',
      'bindArray of N',
      'overhead over bind',
      'bindArray failing at N - 1 (save, unwind, error)',
      'overhead over bind',
    ],
    rows,
  )
}

// --- 1b. Op lists per request ---------------------------------------------
// What planning costs from JS: each request's op list (packed, then as
// objects), then the request applied with bind/unbind so that the next one
// plans against the tree as it is. The bind-only column is the same loop
// without the plan; the last one walks each request a step at a time
// (mapSteps/unmapSteps), applying each step as a driver's callback would.
{
  const n = Math.min(size, 200_000)
  const reqs = requestObjects({}, n)
  const loop = (plan, apply = bindOne) =>
    median(
      [1, 2, 3].map(() => {
        const vm = nativeVm('ops')
        const ns = time(() => {
          for (const r of reqs) {
            plan(vm, r)
            apply(vm, r)
          }
        })
        vm.destroy()
        return ns / n
      }),
    )
  const bindOnly = loop(() => {})
  const packed = loop((vm, r) => (r.kind === 'map' ? vm.smMapOpsPacked(r) : vm.smUnmapOpsPacked(r.addr, r.range)))
  const listed = loop((vm, r) => (r.kind === 'map' ? vm.smMapOps(r) : vm.smUnmapOps(r.addr, r.range)))
  const stepped = loop(
    () => {},
    (vm, r) => {
      for (const op of r.kind === 'map' ? vm.mapSteps(r) : vm.unmapSteps(r.addr, r.range)) vm.apply(op)
    },
  )
  table(
    `Op lists per request from JS, native engine, default workload (${n.toLocaleString('en-US')} requests; ns per request)`,
    [
      'bind/unbind only',
      'packed op list (smMapOpsPacked) + bind',
      'op list as objects (smMapOps) + bind',
      'step by step (mapSteps + apply)',
    ],
    [[fmt(bindOnly), fmt(packed), fmt(listed), fmt(stepped)]],
  )
}

// --- 2. VA tree alone ------------------------------------------------------
{
  const n = size
  // n random non-overlapping one-to-four-page ranges in a shuffled order.
  const rng = (() => {
    let s = 0x9e3779b97f4a7c15n
    return () => {
      s = (s * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n)
      return Number(s >> 33n)
    }
  })()
  const ranges = Array.from({ length: n }, (_, i) => [4096 * (8 * i + 1), 4096 * (1 + (rng() % 4))])
  for (let i = n - 1; i > 0; i--) {
    const j = rng() % (i + 1)
    ;[ranges[i], ranges[j]] = [ranges[j], ranges[i]]
  }
  // Each implementation runs once untimed on a tenth of the ranges, so every
  // one is timed in JIT-compiled code rather than in V8's baseline tiers.
  const timed = (run) => {
    run(ranges.slice(0, Math.ceil(n / 10)))
    return run(ranges).map((ns) => fmt(ns / n))
  }
  const rows = []
  for (const engine of ['native', 'reference']) {
    const row = timed((rs) => {
      const big = rs.map(([a, r]) => [BigInt(a), BigInt(r)])
      const vm = new drmsim.GpuVm({ name: 'tree', range: 1n << 48n, engine })
      const vas = new Array(big.length)
      const ins = time(() => big.forEach(([a, r], i) => (vas[i] = vm.insert({ addr: a, range: r }))))
      const find = time(() => big.forEach(([a, r]) => vm.findFirst(a, r)))
      const rem = time(() => vas.forEach((va) => vm.remove(va)))
      vm.destroy()
      return [ins, find, rem]
    })
    rows.push([`drmsim ${engine}`, ...row])
  }
  const flatten = timed((rs) => {
    const t = new FlattenTree()
    const ins = time(() => rs.forEach(([a, r], i) => t.insert([a, a + r - 1], i)))
    const find = time(() => rs.forEach(([a, r]) => t.search([a, a + r - 1])))
    const rem = time(() => rs.forEach(([a, r], i) => t.remove([a, a + r - 1], i)))
    return [ins, find, rem]
  })
  rows.push(['@flatten-js/interval-tree', ...flatten])
  const nodeTree = timed((rs) => {
    const t = new NodeIntervalTree()
    const recs = rs.map(([a, r]) => ({ low: a, high: a + r - 1 }))
    const ins = time(() => recs.forEach((rec) => t.insert(rec)))
    const find = time(() => recs.forEach((rec) => t.search(rec.low, rec.high)))
    const rem = time(() => recs.forEach((rec) => t.remove(rec)))
    return [ins, find, rem]
  })
  rows.push(['node-interval-tree', ...nodeTree])
  table(
    `VA tree alone, ${n.toLocaleString('en-US')} random non-overlapping ranges (ns per operation)`,
    ['implementation', 'insert', 'findFirst', 'remove'],
    rows,
  )
}

// --- 3. Scaling and memory (inside Rust) ----------------------------------
{
  const max = { smoke: 1000, quick: 1_000_000, full: 10_000_000 }[mode]
  const reqs = { smoke: 1000, quick: 100_000, full: 200_000 }[mode]
  // Again in the drm_gpuvm era, the mappings laid out with `bind`: each
  // linked, holding a reference on its object's vm_bo.
  const scaling = (era) =>
    execFileSync(
      'cargo',
      ['run', '-q', '--release', '-p', 'drmsim-core', '--example', 'scaling', '--', String(max), String(reqs)],
      {
        cwd: root,
        encoding: 'utf8',
        env: era === undefined ? process.env : { ...process.env, ERA: String(era) },
      },
    )
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(' ').map(Number))
  const hub = scaling(1)
  const rows = scaling().map(([live, ns, bytes], i) => [
    live.toLocaleString('en-US'),
    fmt(ns),
    fmt(bytes),
    fmt(hub[i][1]),
    fmt(hub[i][2]),
  ])
  table(
    `Scaling and memory, native engine (${reqs.toLocaleString('en-US')} random bind/unbind requests per size)`,
    [
      'live mappings',
      'ns per request',
      'resident bytes per mapping',
      'ns per request, drm_gpuvm-7.2',
      'resident bytes per mapping, drm_gpuvm-7.2 (bound: vm_bo links)',
    ],
    rows,
  )
}

// --- 4. Placement: validate/evict under VRAM pressure ---------------------
/**
 * 96 buffers of 256 KiB..4 MiB (about 2x a 64 MiB VRAM): each step locks a
 * random buffer, validates it into VRAM (GTT one time in eight), unlocks it
 * and runs `after`, so most VRAM validates evict the LRU head. `setup` sees
 * the buffers first. The ns for `steps` steps, and the evictions.
 */
function placementLoop(dev, steps, { setup = () => {}, after = () => {} } = {}) {
  const rnd = lcg(0x2545f491)
  const bos = Array.from({ length: 96 }, () => dev.createObject({ size: BigInt(256 + rnd(3841)) << 10n }))
  setup(bos)
  const vram = [{ domain: 'vram' }]
  const gtt = [{ domain: 'gtt' }]
  const step = () => {
    const bo = bos[rnd(bos.length)]
    bo.resv.lock()
    const { evictions } = dev.validate(bo, rnd(8) === 0 ? gtt : vram)
    bo.resv.unlock()
    after()
    return evictions
  }
  // A tenth of the steps untimed first: the timed ones run JIT-compiled, with VRAM already full.
  for (let i = 0; i < steps / 10; i++) step()
  let evictions = 0
  const ns = time(() => {
    for (let i = 0; i < steps; i++) evictions += step()
  })
  return { ns, evictions }
}

{
  const steps = { smoke: 2_000, quick: 50_000, full: 200_000 }[mode]
  const run = (engine) => {
    const dev = new drmsim.Device({ engine, memory: { vram: 64n << 20n, gtt: 256n << 20n } })
    const { ns, evictions } = placementLoop(dev, steps)
    return [engine, fmt(ns / steps), fmt((steps * 1e9) / ns), fmt(evictions / steps)]
  }
  table(
    `Placement under VRAM pressure, ${steps.toLocaleString('en-US')} lock/validate/unlock steps through the public API`,
    ['engine', 'ns per step', 'validates per second', 'evictions per step'],
    ['native', 'reference'].map(run),
  )
}

// --- 4b. Placement with time and swap: the same loop, moves on a copy engine --
{
  // Block 4's loop on a device with what issue 16 adds: every move is a copy
  // job whose fence the buffer carries (pipelined eviction), the clock
  // advances 20 us a step so fences signal, SYSTEM is bounded (48 MiB) with a
  // shrinker that swaps out its LRU head, one buffer in eight is purgeable,
  // and victims are evicted to SYSTEM (VRAM -> SYSTEM bounces through GTT).
  const steps = { smoke: 2_000, quick: 50_000, full: 200_000 }[mode]
  const run = (engine) => {
    const memory = { vram: 64n << 20n, gtt: 256n << 20n, system: 48n << 20n }
    const dev = new drmsim.Device({ engine, memory, copy: {} })
    dev.setSwap({ capacity: 1n << 30n })
    const setup = (bos) => {
      for (const [i, bo] of bos.entries()) {
        if (i % 8 === 0) bo.setPurgeable(true)
        dev.setEvictPlacement(bo, [{ domain: 'system' }])
      }
    }
    const { ns, evictions } = placementLoop(dev, steps, { setup, after: () => dev.advance(20_000n) })
    const swapouts = Number(dev.placementTotals.swapouts)
    return [engine, fmt(ns / steps), fmt((steps * 1e9) / ns), fmt(evictions / steps), fmt(swapouts / steps)]
  }
  table(
    `Placement with move fences and swap, ${steps.toLocaleString('en-US')} lock/validate/unlock/advance steps through the public API`,
    ['engine', 'ns per step', 'validates per second', 'evictions per step', 'swapouts per step'],
    ['native', 'reference'].map(run),
  )
}

// --- 5. drm_gpuvm: a driver's loop per request -----------------------------
// The loop (bench/driver-loop.mjs, which also runs it alone for profilers): per request of the vmbind
// workload, exec lock (VM reservation + external objects), validate the evicted vm_bos, bind or unbind, add
// the job's fence, unlock; another client's buffers evict this VM's between requests.
{
  const n = { smoke: 300, quick: 2_000, full: 10_000 }[mode]
  const run = (engine) => {
    const { ns, validated, extobjs } = driverLoop(drmsim, requests, engine, n)
    return [engine, fmt(ns / n), fmt((n * 1e9) / ns), validated.toLocaleString('en-US'), extobjs]
  }
  table(
    `drm_gpuvm driver loop, ${n.toLocaleString('en-US')} requests (exec lock, validate, bind, add fence, unlock)`,
    ['engine', 'ns per request', 'requests per second', 'vm_bos validated (in all)', 'extobj list'],
    ['native', 'reference'].map(run),
  )
}

// --- 6. Page-table cost model (issue 15) -----------------------------------
// The vmbind workload with and without the page-table cost model: the whole
// run inside Rust (loop time), and request by request through the public API
// (bind/unbind, plus reading the last request's cost after each).
{
  const whole = (pageTable) =>
    median([1, 2, 3].map(() => drmsim.vmbind({ ops: size, engine: 'native', trace: 'off', pageTable }).loopNs / size))
  const n = Math.min(size, 200_000)
  const reqs = requestObjects({}, n)
  const perRequest = (pageTable, read) =>
    median(
      [1, 2, 3].map(() => {
        const vm = new drmsim.GpuVm({
          range: 1n << 48n,
          reserve: { offset: 0n, range: 4096n },
          engine: 'native',
          pageTable,
        })
        const ns = time(() => {
          for (const r of reqs) {
            bindOne(vm, r)
            if (read) vm.pageTable.last
          }
        })
        vm.destroy()
        return ns / n
      }),
    )
  const rows = []
  const plainWhole = whole(undefined)
  const plainReq = perRequest(undefined, false)
  const pct = (a, b) => `${(((a - b) / b) * 100).toFixed(0)}%`
  rows.push(['none (plain bind)', fmt(plainWhole), '', fmt(plainReq), '', ''])
  for (const profile of ['xe', 'nouveau']) {
    const w = whole(profile)
    const r = perRequest(profile, false)
    const rr = perRequest(profile, true)
    rows.push([profile, fmt(w), pct(w, plainWhole), fmt(r), pct(r, plainReq), fmt(rr)])
  }
  table(
    `Page-table cost model on the vmbind workload, native engine (whole run: ${size.toLocaleString('en-US')} requests; per request: ${n.toLocaleString('en-US')}; ns per request)`,
    ['page table', 'whole run in Rust', 'overhead', 'bind/unbind from JS', 'overhead', 'bind/unbind + read last cost'],
    rows,
  )
}

// replay of bind/unbind lines (speed-js): replayFile on the default vmbind workload as JSON Lines
{
  const { writeFileSync, mkdtempSync } = await import('node:fs')
  const n = { smoke: 2_000, quick: 100_000, full: 200_000 }[mode]
  const lines = vmbindLines(drmsim, requests, n)
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'drmsim-bench-')), 'binds.jsonl')
  writeFileSync(file, `${lines.join('\n')}\n`)
  const rows = []
  for (const [what, options] of [
    ['records discarded (replayFile)', {}],
    ['records read (onRecord: steps built)', { onRecord: () => {} }],
  ]) {
    const runs = []
    for (let k = 0; k < 3; k++) {
      const t = process.hrtime.bigint()
      await drmsim.replayFile(file, { engine: 'native', ...options })
      runs.push(Number(process.hrtime.bigint() - t) / lines.length)
    }
    const ns = median(runs)
    rows.push([what, fmt(ns), fmt(1e9 / ns)])
  }
  table(
    `Replay of ${lines.length.toLocaleString('en-US')} JSON Lines (bind/unbind of the default vmbind workload), native engine`,
    ['replay', 'ns per line', 'lines per second'],
    rows,
  )
}

// sweeps (issue 18): drmsim sweep on one and two workers (bench/sweep.mjs)
{
  const { benchSweep } = await import('./sweep.mjs')
  table(...(await benchSweep(mode)))
}

// allocators (issue 16): colour-aware drm_mm inserts and cleared drm_buddy allocations
{
  const n = { smoke: 500, quick: 20_000, full: 100_000 }[mode]
  const perOp = (f) => median([1, 2, 3].map(() => f() / n))
  const mmInserts = (engine, colorAdjust) => () => {
    const mm = new drmsim.RangeAllocator({ size: 1n << 40n, engine, colorAdjust })
    return time(() => {
      for (let i = 0; i < n; i++) mm.insert({ size: 0x2000n, color: BigInt(i % 3) })
    })
  }
  const buddyCycle = (engine, clear) => () => {
    const mm = new drmsim.BuddyAllocator({ size: 1n << 30n, engine })
    return time(() => {
      for (let i = 0; i < n; i++) mm.free(mm.alloc({ size: 0x10000n, clear }), { cleared: i % 2 === 0 })
    })
  }
  const rows = ['native', 'reference'].map((engine) => [
    engine,
    fmt(perOp(mmInserts(engine, undefined))),
    fmt(perOp(mmInserts(engine, { guard: 0x1000n }))),
    fmt(perOp(buddyCycle(engine, false))),
    fmt(perOp(buddyCycle(engine, true))),
  ])
  table(
    `Allocators with colours and clear tracking (${n.toLocaleString('en-US')} ops; ns per op)`,
    ['engine', 'drm_mm insert', 'with a colour guard', 'drm_buddy alloc + free', 'with CLEAR_ALLOCATION'],
    rows,
  )
}
