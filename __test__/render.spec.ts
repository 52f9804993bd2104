// Pictures: an SVG of a VA space (and of the memory domains) rasterised to PNG,
// which must not be blank: several colours, the objects' colours among them.
import { Resvg } from '@resvg/resvg-js'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { Device, GemObject, GpuVm, PALETTE, renderDomains, renderReplay, renderVaSpace, replay } from '../lib/index.js'
import { readFileSync } from 'node:fs'

const root = path.resolve(__dirname, '..')

function raster(svg: string) {
  const img = new Resvg(svg, { font: { loadSystemFonts: true } }).render()
  return { width: img.width, height: img.height, pixels: img.pixels, png: img.asPng() }
}

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(',')

function colours(pixels: Buffer): Map<string, number> {
  const seen = new Map<string, number>()
  for (let i = 0; i < pixels.length; i += 4) {
    const key = `${pixels[i]},${pixels[i + 1]},${pixels[i + 2]}`
    seen.set(key, (seen.get(key) ?? 0) + 1)
  }
  return seen
}

describe('renderVaSpace', () => {
  it.each(['native', 'reference'] as const)("draws split mappings in their objects' colours (%s engine)", (engine) => {
    using vm = new GpuVm({ name: 'ctx', range: 1n << 48n, reserve: { offset: 0n, range: 0x1000n }, engine })
    const a = new GemObject({ size: 1n << 20n })
    const b = new GemObject({ size: 1n << 20n })
    vm.bind({ addr: 0x100000n, range: 0x40000n, obj: a, offset: 0n })
    vm.bind({ addr: 0x140000n, range: 0x20000n, obj: b, offset: 0n })
    vm.bind({ addr: 0x110000n, range: 0x8000n, obj: b, offset: 0x8000n }) // splits a
    vm.bind({ addr: 0x130000n, range: 0x4000n, obj: null }) // a sparse hole
    const names = new Map([
      [a, 'alpha'],
      [b, 'beta'],
    ])
    const svg = renderVaSpace(vm, { label: (o) => names.get(o)!, colorIndex: (o) => (o === a ? 0 : 1) })
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="960"/)
    expect(svg).toContain('6 mappings')
    expect(svg).toContain('alpha +0x18000') // the piece after the split keeps its offset
    expect(svg).toContain('beta (160 KiB)') // the legend
    const img = raster(svg)
    expect(img.width).toBe(960)
    const seen = colours(img.pixels)
    expect(seen.size).toBeGreaterThan(10) // not blank, not one colour
    expect(seen.get(rgb(PALETTE[0]))).toBeGreaterThan(1000)
    expect(seen.get(rgb(PALETTE[1]))).toBeGreaterThan(1000)
    expect(seen.get('255,255,255')! / (img.width * img.height)).toBeLessThan(0.9)
    if (engine === 'native') {
      mkdirSync(path.join(root, '.vitest'), { recursive: true })
      writeFileSync(path.join(root, '.vitest/render-va.png'), img.png)
    }
  })

  it('an empty VA space still renders', () => {
    using vm = new GpuVm({ range: 1n << 32n })
    const img = raster(renderVaSpace(vm))
    expect(img.height).toBeGreaterThan(50)
  })

  it('zoom and rows', () => {
    using vm = new GpuVm({ range: 1n << 48n })
    const o = new GemObject({ size: 1n << 30n })
    for (let i = 0n; i < 200n; i++)
      vm.bind({ addr: 0x100000n + i * 0x3000n, range: 0x1000n, obj: o, offset: i * 0x1000n })
    const svg = renderVaSpace(vm, { from: 0x100000n, to: 0x200000n, rows: 4 })
    expect(svg).toContain('showing [0x100000, 0x200000)')
    expect(svg).toContain('4 rows of 0x40000')
  })
})

describe('renderDomains', () => {
  it('draws each domain with pinned and evictable objects', () => {
    const dev = new Device({
      engine: 'reference',
      memory: { vram: 0x1000000n, gtt: 0x4000000n },
    } as ConstructorParameters<typeof Device>[0])
    const a = dev.createObject({ size: 0x400000n })
    const b = dev.createObject({ size: 0x200000n })
    for (const o of [a, b]) {
      o.resv.lock()
      dev.validate(o, [{ domain: 'vram' }])
      o.resv.unlock()
    }
    a.pin('vram')
    const svg = renderDomains(dev, { objects: [a, b] })
    expect(svg).toContain('VRAM')
    expect(svg).toContain('pinned 4 MiB, evictable 2 MiB')
    expect(svg).toContain('GTT')
    const seen = colours(raster(svg).pixels)
    expect(seen.size).toBeGreaterThan(10)
  })
})

describe('renderReplay', () => {
  it('renders the example replay legibly', async () => {
    const r = await replay(readFileSync(path.join(root, 'examples/replay.jsonl'), 'utf8'))
    const svg = renderReplay(r)
    const img = raster(svg)
    expect(img.height).toBeGreaterThan(300)
    const seen = colours(img.pixels)
    expect(seen.get(rgb(PALETTE[0]))).toBeGreaterThan(1000) // 'color', the first object
    expect(seen.get(rgb(PALETTE[1]))).toBeGreaterThan(1000) // 'depth'
    mkdirSync(path.join(root, '.vitest'), { recursive: true })
    writeFileSync(path.join(root, '.vitest/render-replay.png'), img.png)
  })
})
