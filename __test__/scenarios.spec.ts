/**
 * The seeds' stories (lib/scenarios.ts) on both engines: each outcome the
 * story turns on, the violations it records, and the CLI that runs them.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it, expect } from 'vitest'
import { DrmError } from '../lib/base/errors.js'
import { runScenario, scenarios } from '../lib/workloads/scenarios.js'

const engines = ['reference', 'native'] as const

describe.each(engines)('scenarios on the %s engine', (engine) => {
  it('fbdev-unpinned-vmap: the console buffer is evicted under its mapping; the next blit is stale', () => {
    const r = runScenario('fbdev-unpinned-vmap', { engine })
    expect(r.outcome).toEqual({ evicted: true, fbDomain: 'gtt', gameDomain: 'vram', gameError: null, stale: true })
    expect(r.violations).toEqual(['move-while-vmapped', 'stale-mapping', 'unprotected-access'])
  })

  it('fbdev-vmap-local: the held lock makes eviction skip the buffer; nothing goes stale', () => {
    const r = runScenario('fbdev-vmap-local', { engine })
    expect(r.outcome).toEqual({
      skipped: true,
      blitOk: true,
      stale: false,
      retryError: null,
      fbDomain: 'gtt',
      gameDomain: 'vram',
    })
    expect(r.violations).toEqual([])
  })

  it('vmap-pins-fill-vram: pinned long-term vmaps end in ENOMEM; unmapping frees the way', () => {
    const r = runScenario('vmap-pins-fill-vram', { engine })
    expect(r.outcome).toEqual({
      pinnedBuffers: 4,
      error: 'ENOMEM',
      retryError: null,
      fbDomain: 'vram',
      evictedAfterUnmap: 1,
    })
  })

  it('cursor-fragmentation: bottom-up cursors keep a 9 MiB framebuffer out, top-down ones do not', () => {
    const r = runScenario('cursor-fragmentation', { engine })
    const o = r.outcome as {
      bottomUp: { error: string | null; fragmentation: number }
      topDown: { error: string | null; fragmentation: number }
    }
    expect(o.bottomUp.error).toBe('ENOMEM')
    expect(o.bottomUp.fragmentation).toBeGreaterThan(0.4)
    expect(o.topDown).toEqual({ error: null, largestFree: 16646144, fragmentation: 0 })
  })

  it('gpuvm-deferred-leak: the VM put without cleanup stays alive, its imports pinned, VRAM lost; the fix drains first', () => {
    const r = runScenario('gpuvm-deferred-leak', { engine })
    expect(r.outcome).toEqual({
      leak: {
        refcountAfterPut: 2,
        vmAliveAfterPut: true,
        cleaned: 0,
        pinCounts: [1, 1],
        pinnedAtEnd: [1, 1],
        gameError: 'ENOMEM',
        gameDomain: 'system',
        warnings: ['defer-not-empty'],
      },
      fixed: {
        refcountAfterPut: 0,
        vmAliveAfterPut: false,
        cleaned: 2,
        pinCounts: [0, 0],
        pinnedAtEnd: [0, 0],
        gameError: null,
        gameDomain: 'vram',
        warnings: [],
      },
    })
    expect(r.violations).toEqual([])
    expect(r.lines).toContain('10. forced teardown (destroy): WARN defer-not-empty; pin counts still 1, 1')
    expect(r.lines).toContain('   vm_bo_free dmabuf1#2: the driver unpins dmabuf1 (pin count 0)')
    expect(r.devices).toHaveLength(2)
    expect(r.vms).toEqual([]) // both VMs are gone at the end
  })

  it('gpuvm-evict-validate: the evict list fills (external ones at prepare_objects) and validate empties it', () => {
    const r = runScenario('gpuvm-evict-validate', { engine })
    expect(r.outcome).toEqual({
      evicted: ['tex#1', 'pool#2'],
      evictListAfterPressure: ['pool#2'],
      invalidated: 2,
      evictListAtLock: ['pool#2', 'tex#1'],
      evictListAfterValidate: [],
      domains: { tex: 'vram', pool: 'vram' },
      fenced: 2,
      mappings: 3,
    })
    expect(r.violations).toEqual([])
    expect(r.vms!.map((vm) => vm.name)).toEqual(['xe'])
  })

  it('gpuvm-lock-set-mismatch: the offset taken for the range leaves b unlocked; missingLocks names it', () => {
    const r = runScenario('gpuvm-lock-set-mismatch', { engine })
    expect(r.outcome).toEqual({
      buggy: { locked: ['VM resv', 'a'], missing: ['b'] },
      fixed: { locked: ['VM resv', 'a', 'b'], missing: [] },
      unmapSteps: 2,
    })
  })

  // The CPU-visible VRAM window shortage (ttm-res).
  it('cpu-visible-vram: 24 x 1 MiB through a 16 MiB window evict 8 + 24 + 24 times; a full BAR none', () => {
    const r = runScenario('cpu-visible-vram', { engine })
    // Round 1: 16 fit, 8 evict the LRU head; rounds 2 and 3: every buffer evicts one (LRU cycling).
    // Moved: 72 MiB in plus 56 MiB evicted to GTT.
    expect(r.outcome).toEqual({
      window16: { evictions: 56, bytesMoved: 128, vramUsedMiB: 16, outsideMiB: 0 },
      fullBar: { evictions: 0, bytesMoved: 24, vramUsedMiB: 24, outsideMiB: 0 },
    })
    expect(r.violations).toEqual([])
  })

  it('every scenario prints numbered steps and the engines agree on the outcomes', () => {
    for (const name of scenarios.keys()) {
      const r = runScenario(name, { engine })
      expect(r.lines[0]).toMatch(/^1\. /)
      expect(r.outcome).toEqual(runScenario(name, { engine: engine === 'native' ? 'reference' : 'native' }).outcome)
    }
  })
})

it('an unknown scenario is EINVAL', () => {
  expect(() => runScenario('nope')).toThrow(DrmError)
})

describe('drmsim scenario', () => {
  const root = path.resolve(__dirname, '..')
  const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
  const drmsim = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  }

  it('--list names every scenario', () => {
    const r = drmsim('scenario', '--list')
    expect(r.code).toBe(0)
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]),
    ).toEqual([...scenarios.keys()])
  })

  it('runs one step by step, or as JSON', () => {
    const r = drmsim('scenario', 'fbdev-unpinned-vmap', '--engine', 'reference')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('stale-mapping')
    expect(r.stdout).toMatch(/outcome \{.*"stale":true/)
    const j = drmsim('scenario', 'vmap-pins-fill-vram', '--json')
    expect(j.code).toBe(0)
    expect(JSON.parse(j.stdout).outcome.error).toBe('ENOMEM')
  })

  it('--svg draws the memory domains the story left (and keeps the JSON free of the device)', () => {
    const file = path.join(os.tmpdir(), `drmsim-scenario-${process.pid}.svg`)
    const r = drmsim('scenario', 'vmap-pins-fill-vram', '--json', '--svg', file)
    expect(r.code).toBe(0)
    expect(Object.keys(JSON.parse(r.stdout))).toEqual(['name', 'title', 'engine', 'lines', 'outcome', 'violations'])
    const svg = readFileSync(file, 'utf8')
    expect(svg).toMatch(/^<svg/)
    expect(svg).toContain('VRAM')
    expect(svg).toContain('>client0 (4 MiB)<')
  })

  it('--svg shows the end of the story: every device in order, and the drm_gpuvm left alive', () => {
    const file = path.join(os.tmpdir(), `drmsim-scenario-hub-${process.pid}.svg`)
    expect(drmsim('scenario', 'cursor-fragmentation', '--svg', file).code).toBe(0)
    const parts = readFileSync(file, 'utf8')
    expect(parts).toContain('Memory domains, part 1 of 2: bottom-up cursor pins')
    expect(parts).toContain('Memory domains, part 2 of 2: top-down cursor pins (the end)')
    expect(drmsim('scenario', 'gpuvm-evict-validate', '--svg', file).code).toBe(0)
    const hub = readFileSync(file, 'utf8')
    expect(hub).toContain('VA space &#39;xe&#39; at the end')
    expect(hub).toContain('extobj list (1)')
    expect(hub).toContain('external object (own reservation)')
  })

  it('--plot draws the memory over the steps, one stack per device, titled with its part', () => {
    const file = path.join(os.tmpdir(), `drmsim-scenario-plot-${process.pid}.svg`)
    const r = drmsim('scenario', 'cursor-fragmentation', '--plot', file)
    expect(r.code).toBe(0)
    const svg = readFileSync(file, 'utf8')
    expect(svg).toContain('drmsim scenario cursor-fragmentation: bottom-up cursor pins')
    expect(svg).toContain('drmsim scenario cursor-fragmentation: top-down cursor pins')
    expect(svg.match(/>VRAM memory used</g)).toHaveLength(2)
    expect(svg).toContain('>step<')
  })

  it('bad usage exits 2', () => {
    expect(drmsim('scenario').code).toBe(2)
    expect(drmsim('scenario', 'nope').code).toBe(2)
    expect(drmsim('scenario', 'cursor-fragmentation', '--engine', 'x').code).toBe(2)
  })
})
