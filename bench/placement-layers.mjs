#!/usr/bin/env node
// Bench block 4's step (lock / validate / unlock, 96 buffers, 64 MiB VRAM) one layer at a time, for
// profilers and cachegrind: `node bench/placement-layers.mjs [steps] [api|core|rng] [package root] [bigint]`.
// api: the public API (block 4's placementLoop); core: the engine's DeviceCore calls directly; rng: the
// bench's random number generator alone (bench/lcg.mjs; `bigint`: its first, BigInt form). Instructions a step: run it under
// `valgrind --tool=cachegrind --cache-sim=no` for two step counts and divide the difference.
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { lcg, lcgBig } from './lcg.mjs'

const require = createRequire(import.meta.url)
const steps = Number(process.argv[2] ?? 50_000)
const mode = process.argv[3] ?? 'api'
const root = path.resolve(process.argv[4] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'))
const drmsim = require(path.join(root, 'dist/index.js'))
const dev = new drmsim.Device({ engine: 'native', memory: { vram: 64n << 20n, gtt: 256n << 20n } })
const rnd = (process.argv[5] === 'bigint' ? lcgBig : lcg)(0x2545f491)
const bos = Array.from({ length: 96 }, () => dev.createObject({ size: BigInt(256 + rnd(3841)) << 10n }))
const vram = [{ domain: 'vram' }]
const gtt = [{ domain: 'gtt' }]
const core = dev.core
const ids = bos.map((b) => b.id)
const resvs = bos.map((b) => b.resv.id)
const packed = { vram: [3, 0, 0], gtt: [2, 0, 0] }
let evictions = 0
const t = process.hrtime.bigint()
const cpu = process.cpuUsage()
if (mode === 'api')
  for (let i = 0; i < steps; i++) {
    const bo = bos[rnd(bos.length)]
    bo.resv.lock()
    evictions += dev.validate(bo, rnd(8) === 0 ? gtt : vram).evictions
    bo.resv.unlock()
  }
else if (mode === 'core')
  for (let i = 0; i < steps; i++) {
    const k = rnd(96)
    core.lock(0, resvs[k], 0, 0)
    evictions += core.validate(0, ids[k], rnd(8) === 0 ? packed.gtt : packed.vram).evictions
    core.unlock(0, resvs[k])
  }
else
  for (let i = 0; i < steps; i++) {
    const k = rnd(96)
    evictions += rnd(8) === 0 ? k : 0
  }
const ns = Number(process.hrtime.bigint() - t)
const used = process.cpuUsage(cpu)
const cpuNs = (used.user + used.system) * 1000
console.log(
  JSON.stringify({ mode, steps, nsPerStep: ns / steps, cpuNsPerStep: cpuNs / steps, evictions: evictions / steps }),
)
