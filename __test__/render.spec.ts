// Pictures: an SVG of a VA space (and of the memory domains) rasterised to PNG,
// which must not be blank: several colours, the objects' colours among them.
import { Resvg } from '@resvg/resvg-js'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { Device, GemObject, GpuVm, PALETTE, renderDomains, renderReplay, renderVaSpace, replay } from '../lib/index.js'
import { readFileSync } from 'node:fs'
import { OTHER_GREYS, renderScenario } from '../lib/render/render.js'
import { bytes, pow2Ticks } from '../lib/render/scale.js'
import { runScenario } from '../lib/workloads/scenarios.js'

const root = path.resolve(__dirname, '..')

function raster(svg: string) {
  const img = new Resvg(svg, { font: { loadSystemFonts: true } }).render()
  return { width: img.width, height: img.height, pixels: img.pixels, png: img.asPng() }
}

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(',')

/** Writes a picture under .vitest/ for a look. */
function keep(name: string, png: Buffer): void {
  mkdirSync(path.join(root, '.vitest'), { recursive: true })
  writeFileSync(path.join(root, `.vitest/${name}.png`), png)
}

/** The address ticks of a VA picture, row by row: [rowStart, rowEnd, ticks]. */
function addressTicks(svg: string): bigint[][] {
  const rows: bigint[][] = []
  for (const part of svg.split('<rect x="16" y=').slice(1)) {
    const ticks = [...part.matchAll(/font-size="10" fill="#555555">(0x[0-9a-f]+)<\/text>/g)].map((m) => BigInt(m[1]))
    if (ticks.length) rows.push(ticks)
  }
  return rows
}

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

  it('axis ticks are round hex addresses inside each row, never past the range', () => {
    using vm = new GpuVm({ range: 1n << 48n })
    const o = new GemObject({ size: 1n << 30n })
    for (let i = 0n; i < 300n; i++)
      vm.bind({ addr: 0x101000n + i * 0x3000n, range: 0x1000n, obj: o, offset: i * 0x1000n })
    const to = 0x101000n + 299n * 0x3000n + 0x1000n // the end of the last mapping: not round
    const svg = renderVaSpace(vm)
    expect(svg).toContain(`showing [0x101000, ${`0x${to.toString(16)}`})`)
    const rows = addressTicks(svg)
    expect(rows.length).toBeGreaterThan(1)
    for (const ticks of rows) {
      expect(ticks.length).toBeGreaterThanOrEqual(2)
      // A label that would run into the one before it is left out: the step is the smallest gap.
      const step = ticks.slice(1).reduce((m, t, i) => (t - ticks[i] < m ? t - ticks[i] : m), ticks[1] - ticks[0])
      expect(step & (step - 1n)).toBe(0n) // a power of two
      for (const t of ticks) {
        expect(t % step).toBe(0n)
        expect(t).toBeGreaterThanOrEqual(0x101000n)
        expect(t).toBeLessThanOrEqual(to)
      }
    }
    expect(pow2Ticks(0x101000n, 0x1ff000n, 4)).toEqual([0x140000n, 0x180000n, 0x1c0000n])
    expect(pow2Ticks(5n, 5n, 4)).toEqual([5n])
    expect(pow2Ticks(6n, 5n, 4)).toEqual([])
  })

  it('many objects: the ten with the most bytes in colour, sorted by id in the legend, the rest grey as "other"', () => {
    using vm = new GpuVm({ range: 1n << 48n })
    const objects = Array.from({ length: 1024 }, () => new GemObject({ size: 1n << 24n }))
    objects.forEach((o, i) => {
      // Objects 9, 10 and 26 (as labels 0x9, 0xa, 0x1a) and seven more get the most pages.
      const pages = [9, 10, 26, 100, 200, 300, 400, 500, 600, 1000].includes(i) ? 8n : 1n
      vm.bind({ addr: 0x100000n + BigInt(i) * 0x10000n, range: pages * 0x1000n, obj: o, offset: 0n })
    })
    const label = (o: GemObject) => `0x${objects.indexOf(o).toString(16)}`
    const svg = renderVaSpace(vm, { label, width: 1200 })
    const legendTexts = [...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" fill="#222222">([^<]+)<\/text>/g)].map(
      (m) => m[1],
    )
    expect(legendTexts).toEqual([
      '0x9 (32 KiB)',
      '0xa (32 KiB)',
      '0x1a (32 KiB)',
      '0x64 (32 KiB)',
      '0xc8 (32 KiB)',
      '0x12c (32 KiB)',
      '0x190 (32 KiB)',
      '0x1f4 (32 KiB)',
      '0x258 (32 KiB)',
      '0x3e8 (32 KiB)',
      'other: 1,014 objects (3.96 MiB)'.replace('3.96', bytes(1014n * 0x1000n).split(' ')[0]),
    ])
    const fills = new Set([...svg.matchAll(/fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]))
    const palette = [...fills].filter((f) => (PALETTE as readonly string[]).includes(f))
    expect(palette.length).toBe(10) // ten distinct colours, one per highlighted object
    for (const grey of OTHER_GREYS) expect(fills.has(grey)).toBe(true)
    keep('render-many', raster(svg).png)
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

describe('renderVaSpace of a drm_gpuvm', () => {
  it.each(['native', 'reference'] as const)(
    'outlines external (dashed) and private (solid) objects, hatches evicted vm_bos, lists the lists (%s engine)',
    (engine) => {
      const d = new Device({ engine, memory: { vram: 0x400000n, gtt: 0x4000000n } })
      const vm = new GpuVm({ name: 'xe', range: 1n << 40n, device: d, resvProtected: true })
      const ext = d.createObject({ size: 0x100000n })
      const priv = d.createObject({ size: 0x100000n, resv: vm.resvObject! })
      const other = d.createObject({ size: 0x100000n })
      vm.bind({ addr: 0x100000n, range: 0x100000n, obj: ext })
      vm.bind({ addr: 0x300000n, range: 0x80000n, obj: priv })
      vm.bind({ addr: 0x380000n, range: 0x80000n, obj: other })
      for (const o of [ext, priv]) {
        o.resv.lock()
        vm.gemEvict(o)
        o.resv.unlock()
      }
      const names = new Map([
        [ext, 'ext'],
        [priv, 'priv'],
        [other, 'other'],
      ])
      const svg = renderVaSpace(vm, { label: (o) => names.get(o)!, colorIndex: (o) => [ext, priv, other].indexOf(o) })
      expect(svg).toContain('stroke-dasharray="5 3"') // the external objects' outline
      expect(svg.match(/fill="url\(#evicted\)"/g)!.length).toBe(2 + 2 + 1) // two bars, two chips, the legend
      expect(svg).toContain('external object (own reservation)')
      expect(svg).toContain('private object (the VM&#39;s reservation)')
      expect(svg).toContain('vm_bo evicted (to validate)')
      expect(svg).toContain(
        'drm_gpuvm (era drm_gpuvm-7.2, RESV_PROTECTED): refcount 7, 3 vm_bos (2 external, 2 evicted)',
      )
      // RESV_PROTECTED: the evicted external object joins the evict list only at prepare_objects.
      expect(svg).toMatch(/extobj list \(2\).*>ext #1<.*>other #3<.*evict list \(1\).*>priv #2<.*defer list \(0\)/s)
      expect(svg).toContain('vm_bo #1 external, evicted</title>')
      const img = raster(svg)
      const seen = colours(img.pixels)
      expect(seen.get(rgb('#b00020')) ?? 0).toBeGreaterThan(100) // the hatching shows
      expect(seen.get(rgb(PALETTE[0]))).toBeGreaterThan(1000) // and the colours under it
      if (engine === 'native') keep('render-va-hub', img.png)
    },
  )

  it('a seed-era VA space has no vm_bo marks or hub panel', () => {
    using vm = new GpuVm({ range: 1n << 32n, engine: 'reference' })
    vm.bind({ addr: 0x1000n, range: 0x1000n, obj: new GemObject({ size: 0x1000n }) })
    const svg = renderVaSpace(vm)
    expect(svg).not.toContain('extobj list')
    expect(svg).not.toContain('stroke-dasharray')
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

describe('renderDomains: every resident object', () => {
  it.each(['native', 'reference'] as const)('draws pinned buffers, which are off the LRU (%s engine)', (engine) => {
    const dev = new Device({ engine, memory: { vram: 0x1000000n, gtt: 0x4000000n } })
    const a = dev.createObject({ size: 0x400000n })
    const b = dev.createObject({ size: 0x200000n })
    for (const o of [a, b]) {
      o.resv.lock()
      dev.validate(o, [{ domain: 'vram' }])
      o.resv.unlock()
    }
    a.pin('vram')
    const svg = renderDomains(dev) // no `objects`: the device's own list
    expect(svg).toContain('pinned 4 MiB, evictable 2 MiB')
    expect(svg).toContain(`#${a.id} (pinned)`)
    expect(svg).toContain(`#${b.id}`)
    // Offsets under the bar: round byte ticks up to the capacity, none past it.
    expect(svg).toMatch(/>0<\/text>.*>2 MiB<\/text>.*>16 MiB<\/text>/s)
    expect(svg).not.toContain('18 MiB')
  })

  it('the scenario picture: the pinned cursors, every device of the story, the last one its end', () => {
    const r = runScenario('cursor-fragmentation', { engine: 'reference' })
    const one = renderScenario(r)
    expect(one).toContain('pinned 128 KiB')
    expect(one).toContain('Memory domains, part 2 of 2: top-down cursor pins (the end)')
    expect(renderScenario({ title: r.title, device: r.device })).toContain('Memory domains at the end')
    const two = renderScenario({ title: r.title, devices: [r.device!, r.device!] })
    expect(two).toContain('Memory domains, part 1 of 2<')
    expect(two).toContain('Memory domains, part 2 of 2 (the end)')
    const img = raster(one)
    expect(colours(img.pixels).size).toBeGreaterThan(10)
    keep('render-scenario', img.png)
  })

  it('a drm_gpuvm story: its VA space at the end, objects by name, one colour per name in every part', () => {
    const hub = runScenario('gpuvm-evict-validate', { engine: 'reference' })
    const svg = renderScenario(hub)
    expect(svg).toContain('VA space &#39;xe&#39; at the end')
    expect(svg).toContain('>tex (3 MiB)<')
    keep('render-scenario-hub', raster(svg).png)
    const leak = renderScenario(runScenario('gpuvm-deferred-leak', { engine: 'reference' }))
    expect(leak).toContain('Memory domains, part 1 of 2: the leaky driver')
    // dmabuf0 has another id on the second device, and the same colour.
    const fills = [
      ...leak.matchAll(
        /fill="(#[0-9a-f]{6})" stroke="#333333" stroke-width="0.5"\/><text x="[\d.]+" y="[\d.]+" fill="#222222">dmabuf0 /g,
      ),
    ]
    expect(fills.length).toBe(2)
    expect(fills[0][1]).toBe(fills[1][1])
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
