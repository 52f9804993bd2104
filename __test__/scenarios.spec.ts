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
    expect(Object.keys(JSON.parse(r.stdout))).not.toContain('device')
    const svg = readFileSync(file, 'utf8')
    expect(svg).toMatch(/^<svg/)
    expect(svg).toContain('VRAM')
  })

  it('bad usage exits 2', () => {
    expect(drmsim('scenario').code).toBe(2)
    expect(drmsim('scenario', 'nope').code).toBe(2)
    expect(drmsim('scenario', 'cursor-fragmentation', '--engine', 'x').code).toBe(2)
  })
})
