import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it, expect } from 'vitest'
import { BindBatch } from '../lib/gpuvm/batch.js'
import { GemObject } from '../lib/device/gem.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'
import { ReferenceVm } from '../lib/reference/gpuvm/vm.js'
import { hex } from '../lib/base/check.js'
import {
  defaultParams,
  Fnv1a64,
  requests,
  runVmbind,
  SplitMix64,
  vmbindVmOptions,
  type VmbindParams,
} from '../lib/workloads/vmbind.js'
import { vmbind } from '../lib/workloads/vmbind-run.js'

const goldenDir = path.join(__dirname, 'golden')
const golden = (name: string): string => readFileSync(path.join(goldenDir, name), 'utf8')

const run = (params: VmbindParams, mode: 'full' | 'hash') => runVmbind(new ReferenceVm(vmbindVmOptions()), params, mode)

describe('vmbind workload on the reference engine', () => {
  it('splitmix64 matches the workload text', () => {
    const r = new SplitMix64(1n)
    expect([r.next(), r.next(), r.next()]).toEqual([0x910a2dec89025cc1n, 0xbeeb8da1658eec67n, 0xf893a2eefb32555en])
  })

  const trace = 'vmbind-seed1-ops2000.trace'
  it('seed 1, 2000 ops: full trace and summary byte for byte', () => {
    const result = run({ ...defaultParams, ops: 2000 }, 'full')
    expect(result.text).toBe(golden(trace))
    // Hash mode must report the same hashes as the full trace.
    expect(run({ ...defaultParams, ops: 2000 }, 'hash').summary).toEqual(result.summary)
  })

  const dense = 'vmbind-seed9-w4096-l16-k4-p60-ops200000.summary'
  it('seed 9 dense, 200000 ops: summary byte for byte', () => {
    const params = { seed: 9n, ops: 200_000, window: 4096, maxPages: 16, objects: 4, mapPercent: 60 }
    expect(run(params, 'hash').text).toBe(golden(dense))
  })
})

describe('the workload with more distinct objects than any internal threshold', () => {
  // About 120,000 map requests spread thin over a wide window: some 110,000 distinct objects live at the end.
  const params: VmbindParams = {
    seed: 5n,
    ops: 150_000,
    window: 1 << 24,
    maxPages: 2,
    objects: 1 << 30,
    mapPercent: 80,
  }
  const summary = run(params, 'hash')

  it('the reference engine prints what the native whole-run engine prints', () => {
    expect(summary.summary.mappings).toBeGreaterThan(100_000)
    expect(summary.text).toBe(vmbind({ ...params, engine: 'native' }).summary)
  })

  // The same requests through the public API: each object a GemObject with the workload's id.
  const objects = new Map<number, GemObject>()
  const object = (id: number): GemObject =>
    objects.get(id) ?? objects.set(id, new GemObject({ id, size: 1n << 20n })).get(id)!
  /** The workload's state hash, over the public API's mappings. */
  const hashOf = (vm: GpuVm): bigint => {
    const h = new Fnv1a64()
    for (const va of vm.vas())
      if (!va.isKernelNode) h.update(`${hex(va.addr)} ${hex(va.range)} ${hex(va.obj?.id ?? 0)} ${hex(va.offset)}\n`)
    return h.value
  }
  const newVm = (engine: 'native' | 'reference') => {
    const o = vmbindVmOptions()
    return new GpuVm({ engine, name: o.name, start: o.start, range: o.range, reserve: o.reserve })
  }

  it.each(['native', 'reference'] as const)(
    '%s: bind, bindBatch and mapSteps through GpuVm reach the same state',
    (engine) => {
      const routes: ((vm: GpuVm) => void)[] = [
        (vm) => {
          for (const r of requests(params)) {
            if (r.kind === 'map') vm.bind({ addr: r.addr, range: r.range, obj: object(r.obj), offset: r.offset })
            else vm.unbind(r.addr, r.range)
          }
        },
        (vm) => {
          const batch = new BindBatch()
          for (const r of requests(params)) {
            if (r.kind === 'map') batch.map({ addr: r.addr, range: r.range, obj: object(r.obj), offset: r.offset })
            else batch.unmap(r.addr, r.range)
          }
          const c = vm.bindBatch(batch)
          expect([c.map, c.remap, c.unmap]).toEqual([summary.summary.map, summary.summary.remap, summary.summary.unmap])
        },
        (vm) => {
          for (const r of requests(params)) {
            const walk =
              r.kind === 'map'
                ? vm.mapSteps({ addr: r.addr, range: r.range, obj: object(r.obj), offset: r.offset })
                : vm.unmapSteps(r.addr, r.range)
            for (const op of walk) vm.apply(op)
          }
        },
      ]
      // The reference engine is slow enough that one route through the API is plenty.
      for (const route of engine === 'native' ? routes : routes.slice(0, 1)) {
        const vm = newVm(engine)
        route(vm)
        expect(vm.mappingCount).toBe(summary.summary.mappings)
        expect(hashOf(vm)).toBe(summary.summary.stateHash)
        vm.takeWarnings()
      }
    },
  )
})
