import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it, expect } from 'vitest'
import { ReferenceVm } from '../lib/reference/gpuvm.js'
import { defaultParams, runVmbind, SplitMix64, vmbindVmOptions, type VmbindParams } from '../lib/vmbind.js'

const goldenDir = path.resolve(__dirname, '../../shared/golden')
const golden = (name: string): string => readFileSync(path.join(goldenDir, name), 'utf8')
const hasGolden = (name: string): boolean => existsSync(path.join(goldenDir, name))

const run = (params: VmbindParams, mode: 'full' | 'hash') => runVmbind(new ReferenceVm(vmbindVmOptions()), params, mode)

describe('vmbind workload on the reference engine', () => {
  it('splitmix64 matches the workload text', () => {
    const r = new SplitMix64(1n)
    expect([r.next(), r.next(), r.next()]).toEqual([0x910a2dec89025cc1n, 0xbeeb8da1658eec67n, 0xf893a2eefb32555en])
  })

  const trace = 'vmbind-seed1-ops2000.trace'
  it.skipIf(!hasGolden(trace))('seed 1, 2000 ops: full trace and summary byte for byte', () => {
    const result = run({ ...defaultParams, ops: 2000 }, 'full')
    expect(result.text).toBe(golden(trace))
    // Hash mode must report the same hashes as the full trace.
    expect(run({ ...defaultParams, ops: 2000 }, 'hash').summary).toEqual(result.summary)
  })

  const dense = 'vmbind-seed9-w4096-l16-k4-p60-ops200000.summary'
  it.skipIf(!hasGolden(dense))('seed 9 dense, 200000 ops: summary byte for byte', () => {
    const params = { seed: 9n, ops: 200_000, window: 4096, maxPages: 16, objects: 4, mapPercent: 60 }
    expect(run(params, 'hash').text).toBe(golden(dense))
  })
})
