#!/usr/bin/env node
// One call kind timed in a fresh process, for A/B comparisons of two builds:
//   node bench/ab.cjs <package root> bind|insert|steps
// Run it alternately on two checkouts (each built with `npm run build`);
// prints the min and median of seven rounds in ns per request or insert.
const path = require('node:path')
const [root, what = 'bind'] = process.argv.slice(2)
const d = require(path.resolve(root, 'dist/index.js'))
// The workload's generator moved with the re-cut of lib/ (older builds: dist/vmbind.js).
const workload = (file) => require(path.resolve(root, 'dist', file))
let requests
try {
  ;({ requests } = workload('workloads/vmbind.js'))
} catch {
  ;({ requests } = workload('vmbind.js'))
}
const objects = new Map()
const obj = (id) => objects.get(id) ?? objects.set(id, new d.GemObject({ size: 1n << 30n })).get(id)
const N = what === 'steps' ? 100_000 : 200_000
const reqs = [...requests({ ...d.vmbindDefaults, ops: N })].map((r) =>
  r.kind === 'map' ? { ...r, obj: obj(r.obj) } : r,
)
const newVm = () =>
  new d.GpuVm({ name: 'ab', range: 1n << 48n, reserve: { offset: 0n, range: 4096n }, engine: 'native' })
const loops = {
  bind: (vm) => {
    for (const r of reqs) r.kind === 'map' ? vm.bind(r) : vm.unbind(r.addr, r.range)
    return reqs.length
  },
  insert: (vm) => {
    for (let i = 1n; i <= 100_000n; i++) vm.insert({ addr: i * 0x2000n, range: 0x1000n, obj: null, offset: 0n })
    return 100_000
  },
  steps: (vm) => {
    for (const r of reqs)
      for (const op of r.kind === 'map' ? vm.mapSteps(r) : vm.unmapSteps(r.addr, r.range)) vm.apply(op)
    return reqs.length
  },
}
const loop = loops[what]
if (!loop) throw new Error(`unknown loop ${what}: bind, insert or steps`)
const times = []
for (let round = 0; round < 7; round++) {
  const vm = newVm()
  const t = process.hrtime.bigint()
  const n = loop(vm)
  times.push(Number(process.hrtime.bigint() - t) / n)
}
times.sort((a, b) => a - b)
console.log(`${root} ${what}: min ${times[0].toFixed(0)} ns, median ${times[3].toFixed(0)} ns`)
