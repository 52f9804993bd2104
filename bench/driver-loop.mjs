#!/usr/bin/env node
// Bench block 5's loop (drm_gpuvm's driver loop per vmbind request: exec lock of the VM's reservation and
// the external objects, validate, bind or unbind, add the job's fence, unlock) for one engine, for
// profilers and cachegrind: `node bench/driver-loop.mjs [requests] [native|reference] [package root]`.
// bench/run.mjs's block 5 runs the same `driverLoop`. Instructions a request: run it under
// `valgrind --tool=cachegrind --cache-sim=no` for two request counts and divide the difference.
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * One drm_gpuvm (RESV_PROTECTED, as Xe) on a device with 16 MiB of VRAM: 1,024 objects of 256 KiB, one in
 * four external (own reservation), the rest private (the VM's reservation). Each of the `n` requests of the
 * vmbind workload runs what a driver's VM_BIND does: exec lock (VM reservation + external objects, one
 * fence slot each), validate (the driver's callback places each evicted vm_bo back into VRAM), bind or
 * unbind, add the job's fence, unlock. Between requests another client places its buffers into VRAM,
 * which evicts this VM's (its first 64 objects start there, bound high). Returns the loop's wall and CPU
 * time (ns), the vm_bos validated in all and the extobj list's length at the end.
 */
export function driverLoop(drmsim, requests, engine, n) {
  const dev = new drmsim.Device({ engine, memory: { vram: 16n << 20n, gtt: 1n << 30n } })
  // VRAM, else GTT: while the exec holds the VM's reservation its private objects cannot be evicted.
  const vram = [{ domain: 'vram' }, { domain: 'gtt' }]
  const vm = new drmsim.GpuVm({
    name: 'hub',
    range: 1n << 48n,
    device: dev,
    resvProtected: true,
    ops: {
      vmBoValidate: (bo) => {
        dev.validate(bo.obj, vram)
        bo.evict(false)
      },
    },
  })
  const objs = Array.from({ length: 1024 }, (_, i) =>
    dev.createObject({ size: 256n << 10n, ...(i % 4 === 0 ? {} : { resv: vm.resvObject }) }),
  )
  const reqs = [...requests({ ...drmsim.vmbindDefaults, ops: n, objects: 1024 })]
  // Another client's buffers, placed into VRAM now and then between requests: what evicts this VM's.
  const others = Array.from({ length: 8 }, () => dev.createObject({ size: 2n << 20n }))
  const vramOnly = [{ domain: 'vram' }]
  for (const o of objs.slice(0, 64)) {
    o.resv.lock()
    dev.validate(o, vramOnly)
    o.resv.unlock()
  }
  for (let i = 0; i < 64; i++) vm.bind({ addr: BigInt(i) << 30n, range: 256n << 10n, obj: objs[i] })
  let validated = 0
  const t = process.hrtime.bigint()
  const cpu = process.cpuUsage()
  for (let i = 0; i < reqs.length; i++) {
    const r = reqs[i]
    if (i % 4 === 0) {
      const o = others[(i >> 2) % others.length]
      o.resv.lock()
      dev.validate(o, vramOnly)
      o.resv.unlock()
    }
    const job = new drmsim.GpuVmExec(vm, { numFences: 1 }).lock()
    validated += vm.evictList().length
    job.validate()
    if (r.kind === 'map') vm.bind({ ...r, obj: objs[(r.obj - 1) % objs.length] })
    else vm.unbind(r.addr, r.range)
    // One bind queue: a fence context whose later fences replace the earlier ones in each reservation.
    job.resvAddFence(dev.createFence({ context: 1000, seqno: i + 1 }), 'bookkeep', 'bookkeep')
    job.unlock()
  }
  const used = process.cpuUsage(cpu)
  const ns = Number(process.hrtime.bigint() - t)
  return { ns, cpuNs: (used.user + used.system) * 1000, validated, extobjs: vm.extobjList().length }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const require = createRequire(import.meta.url)
  const n = Number(process.argv[2] ?? 2_000)
  const engine = process.argv[3] ?? 'native'
  const root = path.resolve(process.argv[4] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'))
  const drmsim = require(path.join(root, 'dist/index.js'))
  const { requests } = require(path.join(root, 'dist/workloads/vmbind.js'))
  const r = driverLoop(drmsim, requests, engine, n)
  console.log(
    JSON.stringify({
      engine,
      requests: n,
      nsPerRequest: r.ns / n,
      cpuNsPerRequest: r.cpuNs / n,
      validated: r.validated,
      extobjs: r.extobjs,
    }),
  )
}
