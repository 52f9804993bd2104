// Plots over time (lib/render/plot.ts): the panels a run's statistics give,
// round ticks inside the data, thinning of long series, a raster check, and
// a scenario's memory over its steps (the rows its story samples).
import { Resvg } from '@resvg/resvg-js'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { DrmError } from '../lib/base/errors.js'
import { renderStats, type StatsRow } from '../lib/render/plot.js'
import { byteTicks, bytes, numberTicks } from '../lib/render/scale.js'
import { runScenario, scenarios } from '../lib/workloads/scenarios.js'

const root = path.resolve(__dirname, '..')
const MiB = 1n << 20n

/** A run of `n` rows every `every` requests: VRAM filling up to its capacity, SYSTEM growing, evictions. */
function rows(n: number, every = 10): StatsRow[] {
  return Array.from({ length: n }, (_, i) => {
    const req = (i + 1) * every - 1
    const vram = BigInt(Math.min(64, Math.round(req / 25))) * MiB
    return {
      req,
      line: req + 3, // a column the plots do not draw
      mappings: Math.round(1000 * (1 - Math.exp(-req / 2000))) + (i % 7),
      map: req,
      remap: Math.floor(req / 3),
      unmap: Math.floor(req / 2),
      vramUsed: vram,
      vramCapacity: 64n * MiB,
      vramFragmentation: (i % 13) / 20,
      gttUsed: Number(vram / 2n),
      gttCapacity: 256n * MiB,
      gttFragmentation: 0,
      systemUsed: String(BigInt(req) * MiB), // as read back from CSV
      systemCapacity: (1n << 64n) - 1n,
      evictions: Math.floor(req / 40),
    }
  })
}

const texts = (svg: string) => [...svg.matchAll(/>([^<>]+)<\/text>/g)].map((m) => m[1])

describe('renderStats', () => {
  it('draws mappings, memory per domain, fragmentation, steps and evictions', () => {
    const svg = renderStats(rows(400), { title: 'a run' })
    for (const title of [
      'a run',
      'GPU VA mappings',
      'VRAM memory used',
      'GTT memory used',
      'SYSTEM memory used',
      'Fragmentation (1 - largest free / free)',
      'Steps emitted so far',
      'Evictions so far',
    ])
      expect(texts(svg)).toContain(title)
    // Round ticks: the request axis in steps of 500 within [10, 4000], VRAM's in MiB up to a round top.
    const labels = texts(svg)
    expect(labels).toEqual(expect.arrayContaining(['500', '1,000', '3,500', '0', '10 MiB', '70 MiB', '4 GiB', '100%']))
    expect(labels).not.toContain('Bytes moved so far') // no row has it
    const img = new Resvg(svg, { font: { loadSystemFonts: true } }).render()
    expect(img.width).toBe(960)
    mkdirSync(path.join(root, '.vitest'), { recursive: true })
    writeFileSync(path.join(root, '.vitest/render-plot.png'), img.asPng())
  })

  it('count axes tick whole numbers: a top of 2 evictions is 0, 1, 2', () => {
    const svg = renderStats([
      { req: 0, evictions: 0 },
      { req: 9, evictions: 2 },
    ])
    const y = [...svg.matchAll(/x="74" y="[\d.]+" text-anchor="end" font-size="10" fill="#555555">([^<]+)</g)]
    expect(y.map((m) => m[1])).toEqual(['0', '1', '2'])
    // Request indices are whole too.
    const x = [...svg.matchAll(/font-size="10" fill="#555555">([^<]+)<\/text>/g)].map((m) => m[1])
    expect(x.filter((l) => l.includes('.'))).toEqual([])
  })

  it('leaves out what the rows do not have, and draws a single row as points', () => {
    const svg = renderStats([{ req: 5, mappings: 3 }])
    expect(texts(svg)).toContain('GPU VA mappings')
    expect(svg).not.toContain('memory used')
    expect(svg).toContain('<circle')
  })

  it('thins a long series to a few points per pixel column, keeping its extremes', () => {
    const many = rows(100_000, 1)
    many[50_000].mappings = 5000 // one spike
    const svg = renderStats(many, { width: 800 })
    const first = /<polyline points="([^"]+)"/.exec(svg)![1].split(' ')
    expect(first.length).toBeLessThanOrEqual(4 * 800)
    const ys = first.map((p) => Number(p.split(',')[1]))
    expect(Math.min(...ys)).toBeLessThan(35) // the spike reaches the top of the plot
  })

  it('refuses no rows, a row without its request index, or rows with nothing to draw', () => {
    expect(() => renderStats([])).toThrow(DrmError)
    expect(() => renderStats([{ mappings: 1 }])).toThrow(/needs its request index \(req\)/)
    expect(() => renderStats([{ req: 1, other: 2 }])).toThrow(/no column it draws/)
  })
})

describe('ticks and bytes', () => {
  it('numberTicks: round steps inside the range', () => {
    expect(numberTicks(10, 4000, 8).map((t) => t.label)).toEqual([
      '500',
      '1,000',
      '1,500',
      '2,000',
      '2,500',
      '3,000',
      '3,500',
      '4,000',
    ])
    expect(numberTicks(0, 1, 4).map((t) => t.label)).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8', '1.0'])
  })

  it('byteTicks: round numbers of one IEC unit, up to the top', () => {
    expect(byteTicks(Number(70n * MiB), 5).map((t) => t.label)).toEqual([
      '0',
      '10 MiB',
      '20 MiB',
      '30 MiB',
      '40 MiB',
      '50 MiB',
      '60 MiB',
      '70 MiB',
    ])
    expect(byteTicks(1.5 * 2 ** 30, 3).map((t) => t.label)).toEqual(['0', '0.5 GiB', '1 GiB', '1.5 GiB'])
  })

  it('bytes: IEC units with one decimal, bigints to 2^64', () => {
    expect([0n, 1023n, 1536n, 4n * MiB, (1n << 64n) - 1n, 123456789].map(bytes)).toEqual([
      '0 B',
      '1023 B',
      '1.5 KiB',
      '4 MiB',
      '16 EiB',
      '117.7 MiB',
    ])
  })
})

describe("a scenario's memory over its steps", () => {
  it('samples the device after each step: used bytes per domain, evictions so far and in each step', () => {
    const r = runScenario('gpuvm-evict-validate', { engine: 'native' })
    const rows = r.timelines![0]
    // One row per numbered step, in order.
    const steps = r.lines.filter((l) => /^\d+\. /.test(l)).length
    expect(rows.map((row) => row.req)).toEqual(Array.from({ length: steps }, (_, i) => i + 1))
    // Step 4 validates `other` (6 MiB) into the 8 MiB VRAM and evicts tex and pool.
    expect(rows[3]).toMatchObject({ vramUsed: 6 * 2 ** 20, vramCapacity: 8 * 2 ** 20, evictions: 2, stepEvictions: 2 })
    expect(rows.map((row) => row.stepEvictions)).toEqual([0, 0, 0, 2, 0, 0, 0, 0])
    // SYSTEM is unbounded: no capacity column.
    expect(rows[0]).not.toHaveProperty('systemCapacity')
  })

  it('every scenario keeps one timeline per device, a row per step numbered from 1', () => {
    for (const name of scenarios.keys()) {
      const r = runScenario(name, { engine: 'native' })
      expect(r.timelines, name).toHaveLength(r.devices!.length)
      for (const rows of r.timelines!) {
        expect(rows.length, name).toBeGreaterThan(0)
        expect(rows.map((row) => row.req)).toEqual(rows.map((_, i) => i + 1))
      }
    }
    // The shrinker's columns appear once it has acted: the swap storm swaps and purges.
    const storm = runScenario('ttm-swap-storm').timelines![0].at(-1)!
    expect(storm).toMatchObject({ purges: 1, swapUsed: 256 * 1024 })
  })

  it('the same rows from the reference engine', () => {
    const native = runScenario('cursor-fragmentation', { engine: 'native' }).timelines
    const reference = runScenario('cursor-fragmentation', { engine: 'reference' }).timelines
    expect(native).toHaveLength(2)
    expect(reference).toEqual(native)
  })

  it('draws evictions in each step as bars, and names its x axis', () => {
    const svg = renderStats(runScenario('gpuvm-evict-validate').timelines![0], { xLabel: 'step' })
    expect(texts(svg)).toEqual(expect.arrayContaining(['Evictions in each step', 'step']))
    expect(texts(svg)).not.toContain('request (index)')
    // One bar: the step that evicted.
    const panel = svg.slice(svg.indexOf('Evictions in each step'))
    const rects = panel.slice(0, panel.indexOf('</svg>')).match(/<rect [^>]*>/g) ?? []
    expect(rects.filter((r) => !r.includes('#fbfbfb'))).toHaveLength(1) // the plot area's own rect aside
  })
})
