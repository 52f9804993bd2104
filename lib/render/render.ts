/**
 * Pictures: SVG of a GPU VA space (mappings as bars along the address axis,
 * coloured by GEM object) and of a device's memory domains (objects at their
 * offsets, pinned ones hatched, with used / free / pinned / evictable /
 * fragmentation). Pure functions returning SVG text; no dependency.
 */
import type { Device } from '../device/device.js'
import { DrmError } from '../base/errors.js'
import { hex } from '../base/check.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { DomainStats, PlaceDomain } from '../device/placement.js'
import type { ReplayResult } from '../replay/index.js'
import type { Va } from '../gpuvm/va.js'

/**
 * 20 colours that stay apart from each other and from the greys used for
 * sparse mappings and free space. An object keeps its colour (see `colorOf`).
 */
export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#393b79',
  '#aec7e8',
  '#ffbb78',
  '#98df8a',
  '#ff9896',
  '#c5b0d5',
  '#c49c94',
  '#f7b6d2',
  '#9edae5',
  '#dbdb8d',
  '#637939',
] as const

export interface ObjectStyle {
  /** The name shown for an object (default `#<id>`). */
  label?: (obj: GemObject) => string
  /** Index into PALETTE (mod its length); default the object's id - 1, so an object keeps its colour from picture to picture. */
  colorIndex?: (obj: GemObject) => number
}

export interface VaRenderOptions extends ObjectStyle {
  title?: string
  /** Width in pixels (default 960). */
  width?: number
  /** Zoom: the first address drawn (default: the lowest mapping, kernel node aside). */
  from?: bigint
  /** Zoom: the end of the range drawn (default: the end of the highest mapping). */
  to?: bigint
  /** The address axis is cut into this many rows (default: 1 per 48 mappings, at most 16). */
  rows?: number
  /** Legend entries shown before "+N more" (default 24). */
  legend?: number
}

const esc = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/** Bytes as B / KiB / MiB / GiB / TiB / PiB / EiB, with up to one decimal. */
export function bytes(n: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']
  let u = 0
  while (u < units.length - 1 && n >= 1n << BigInt(10 * (u + 1))) u++
  if (u === 0) return `${n} B`
  const exact = Number(n) / 2 ** (10 * u)
  const shown = exact >= 100 ? Math.round(exact).toString() : exact.toFixed(1).replace(/\.0$/, '')
  return `${shown} ${units[u]}`
}

export function colorOf(obj: GemObject, style: ObjectStyle = {}): string {
  const i = style.colorIndex ? style.colorIndex(obj) : obj.id - 1
  const n = PALETTE.length
  return PALETTE[((Math.trunc(i) % n) + n) % n || 0]
}

/** Legend order: labels as text, the numbers in them as numbers (#9 before #10). */
const labelKey = (label: string): string => label.replace(/\d+/g, (digits) => digits.padStart(20, '0'))

const labelOf = (obj: GemObject, style: ObjectStyle): string => (style.label ? style.label(obj) : `#${obj.id}`)

/** Position of `a` in [from, to) as a fraction, without losing bigint precision where it matters. */
function frac(a: bigint, from: bigint, span: bigint): number {
  if (a <= from) return 0
  const d = a - from
  if (d >= span) return 1
  return Number((d * 1_000_000_000n) / span) / 1e9
}

const DEFS = `<defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#bbbbbb"/><line x1="0" y1="0" x2="0" y2="6" stroke="#777777" stroke-width="3"/></pattern>
<pattern id="pinned" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#000000" stroke-opacity="0.45" stroke-width="2"/></pattern>
<pattern id="sparse" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#eeeeee"/><circle cx="4" cy="4" r="1.5" fill="#999999"/></pattern>
</defs>`

function svgOpen(width: number, height: number): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="DejaVu Sans, Verdana, Arial, sans-serif" font-size="12">\n` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>\n${DEFS}\n`
  )
}

interface LegendEntry {
  fill: string
  text: string
}

function legend(entries: LegendEntry[], x: number, y: number, width: number): { svg: string; height: number } {
  let svg = ''
  let cx = x
  let cy = y
  for (const e of entries) {
    const w = 22 + e.text.length * 7 + 16
    if (cx + w > x + width && cx > x) {
      cx = x
      cy += 20
    }
    svg += `<rect x="${cx}" y="${cy}" width="14" height="14" fill="${e.fill}" stroke="#333333" stroke-width="0.5"/>`
    svg += `<text x="${cx + 20}" y="${cy + 11}" fill="#222222">${esc(e.text)}</text>\n`
    cx += w
  }
  return { svg, height: entries.length ? cy - y + 20 : 0 }
}

/**
 * An SVG of `vm`: each mapping a bar at its place along the address axis,
 * coloured by its GEM object, with a white edge between neighbours so that
 * split pieces of one object stay visible; sparse (object-less) mappings
 * dotted, the kernel-reserved node hatched grey. Zoomed to the used range
 * unless `from` / `to` say otherwise; the axis is cut into rows when there
 * are many mappings. A legend names the objects (with `label`) and their
 * mapped bytes.
 */
export function renderVaSpace(vm: GpuVm, options: VaRenderOptions = {}): string {
  const width = Math.max(320, Math.min(8192, Math.trunc(options.width ?? 960)))
  const all: Va[] = [...vm.vas()]
  const mappings = all.filter((va) => !va.isKernelNode)
  const shown = mappings.length ? mappings : all
  const from = options.from ?? (shown.length ? shown[0].addr : vm.start)
  let to = options.to ?? (shown.length ? shown.reduce((m, va) => (va.end > m ? va.end : m), 0n) : vm.start + vm.range)
  if (to <= from) to = from + 1n
  const span = to - from
  const rows = Math.max(1, Math.min(64, Math.trunc(options.rows ?? Math.min(16, Math.ceil(mappings.length / 48) || 1))))
  let rowSpan = (span + BigInt(rows) - 1n) / BigInt(rows)
  if (rows > 1 && rowSpan >= 0x10000n) rowSpan = (rowSpan + 0xfffn) & ~0xfffn // page-aligned row starts

  const left = 16
  const barW = width - 2 * left
  const barH = 30
  const rowH = barH + 34
  let y = 14
  let body = ''
  const title = options.title ?? `VA space '${vm.name}'`
  body += `<text x="${left}" y="${y + 12}" font-size="16" font-weight="bold" fill="#111111">${esc(title)}</text>\n`
  y += 22
  const mapped = mappings.reduce((n, va) => n + va.range, 0n)
  body +=
    `<text x="${left}" y="${y + 12}" fill="#444444">${mappings.length} mapping${mappings.length === 1 ? '' : 's'}, ` +
    `${bytes(mapped)} mapped; showing [${hex(from)}, ${hex(to)}) of [${hex(vm.start)}, ${hex(vm.start + vm.range)})` +
    `${rows > 1 ? `, ${rows} rows of ${hex(rowSpan)}` : ''}</text>\n`
  y += 26

  const perObject = new Map<GemObject, bigint>()
  let sparse = false
  let kernel = false
  for (let r = 0; r < rows; r++) {
    const rs = from + BigInt(r) * rowSpan
    const re = rs + rowSpan
    body += `<rect x="${left}" y="${y}" width="${barW}" height="${barH}" fill="#f4f4f4" stroke="#cccccc"/>\n`
    for (const va of all) {
      if (va.end <= rs || va.addr >= re) continue
      const x0 = left + frac(va.addr, rs, rowSpan) * barW
      const x1 = left + frac(va.end, rs, rowSpan) * barW
      const w = Math.max(1, x1 - x0)
      let fill: string
      let what: string
      if (va.isKernelNode) {
        fill = 'url(#hatch)'
        what = 'kernel-reserved node'
        kernel = true
      } else if (va.obj === null) {
        fill = 'url(#sparse)'
        what = 'sparse (no object)'
        sparse = true
      } else {
        fill = colorOf(va.obj, options)
        what = `${labelOf(va.obj, options)} +${hex(va.offset)}`
      }
      const edge = w >= 3 ? ' stroke="#ffffff" stroke-width="1"' : ''
      body += `<rect x="${x0.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${barH}" fill="${fill}"${edge}>`
      body += `<title>[${hex(va.addr)}, ${hex(va.end)}) ${esc(what)}</title></rect>\n`
      const text = va.isKernelNode ? 'kernel' : va.obj === null ? 'sparse' : what
      if (w > text.length * 6.6 + 6) {
        const dark = va.obj !== null && !va.isKernelNode
        body += `<text x="${(x0 + w / 2).toFixed(2)}" y="${y + barH / 2 + 4}" text-anchor="middle" font-size="11" fill="${dark ? '#ffffff' : '#222222'}"${dark ? ' stroke="#000000" stroke-opacity="0.35" stroke-width="2" paint-order="stroke"' : ''}>${esc(text)}</text>\n`
      }
    }
    // The axis of this row: its ends and three ticks between.
    for (let t = 0; t <= 4; t++) {
      const x = left + (barW * t) / 4
      const a = rs + (rowSpan * BigInt(t)) / 4n
      const anchor = t === 0 ? 'start' : t === 4 ? 'end' : 'middle'
      body += `<line x1="${x}" y1="${y + barH}" x2="${x}" y2="${y + barH + 4}" stroke="#666666"/>`
      body += `<text x="${x}" y="${y + barH + 16}" text-anchor="${anchor}" font-size="10" fill="#555555">${hex(a)}</text>\n`
    }
    y += rowH
  }
  for (const va of mappings) if (va.obj) perObject.set(va.obj, (perObject.get(va.obj) ?? 0n) + va.range)

  const max = Math.max(0, Math.trunc(options.legend ?? 24))
  // One sort key per object, compared as plain strings: a collator per comparison cost
  // seconds with 10^5 objects.
  const keys = new Map([...perObject.keys()].map((obj) => [obj, labelKey(labelOf(obj, options))]))
  const objects = [...perObject].sort(([a], [b]) =>
    keys.get(a)! < keys.get(b)! ? -1 : keys.get(a)! > keys.get(b)! ? 1 : 0,
  )
  const entries: LegendEntry[] = objects
    .slice(0, max)
    .map(([obj, n]) => ({ fill: colorOf(obj, options), text: `${labelOf(obj, options)} (${bytes(n)})` }))
  if (objects.length > max) entries.push({ fill: '#ffffff', text: `+${objects.length - max} more objects` })
  if (sparse) entries.push({ fill: 'url(#sparse)', text: 'sparse mapping' })
  if (kernel) entries.push({ fill: 'url(#hatch)', text: 'kernel-reserved' })
  const lg = legend(entries, left, y, barW)
  body += lg.svg
  y += lg.height + 8
  return `${svgOpen(width, y) + body}</svg>\n`
}

/** What renderDomains needs of a device: the placement API (`memory`, `lru`). */
export interface DomainSource {
  memory(domain: PlaceDomain): DomainStats
  lru?(domain: PlaceDomain): GemObject[]
}

export interface DomainRenderOptions extends ObjectStyle {
  title?: string
  width?: number
  /** The objects to draw at their offsets (default: the domains' LRUs, so pinned ones are missing). */
  objects?: Iterable<GemObject>
}

/**
 * An SVG of each memory domain of `device` (VRAM, GTT, SYSTEM; those it has):
 * its objects at their offsets, coloured as in `renderVaSpace`, pinned ones
 * hatched and outlined; a bar of used / pinned / evictable / free; and the
 * numbers, fragmentation included (1 - largest free / free). SYSTEM is
 * unbounded, so it is drawn up to its highest used byte.
 */
export function renderDomains(device: Device | DomainSource, options: DomainRenderOptions = {}): string {
  const d = device as unknown as DomainSource
  if (typeof d.memory !== 'function')
    throw new DrmError('EINVAL', 'renderDomains needs a device with the placement API (device.memory)')
  const width = Math.max(320, Math.min(8192, Math.trunc(options.width ?? 960)))
  const left = 16
  const barW = width - 2 * left
  let y = 14
  let body = `<text x="${left}" y="${y + 12}" font-size="16" font-weight="bold" fill="#111111">${esc(options.title ?? 'Memory domains')}</text>\n`
  y += 30
  const objects = options.objects ? [...options.objects] : undefined
  const used = new Map<GemObject, bigint>()
  for (const domain of ['vram', 'gtt', 'system'] as const) {
    let stats: ReturnType<DomainSource['memory']>
    try {
      stats = d.memory(domain)
    } catch (err) {
      if (err instanceof DrmError && err.errno === 'EINVAL') continue // the device has no such domain
      throw err
    }
    const lru = new Set(d.lru ? d.lru(domain) : [])
    const resident = (objects ?? [...lru]).filter((o) => {
      try {
        return o.domain === domain && o.offset !== null && !o.freed
      } catch {
        return false
      }
    })
    let pinned = 0n
    let evictable = 0n
    for (const o of resident) {
      if (o.pinCount > 0) pinned += o.size
      else if (lru.has(o)) evictable += o.size
    }
    const unbounded = stats.capacity === (1n << 64n) - 1n
    const highest = resident.reduce((m, o) => (o.offset! + o.size > m ? o.offset! + o.size : m), 0n)
    const scale = unbounded ? (highest > 0n ? highest : 1n) : stats.capacity > 0n ? stats.capacity : 1n
    const name = domain.toUpperCase()
    const cap = unbounded ? 'unbounded' : bytes(stats.capacity)
    body += `<text x="${left}" y="${y + 12}" font-size="14" font-weight="bold" fill="#111111">${name}</text>`
    body +=
      `<text x="${left + 70}" y="${y + 12}" fill="#333333">capacity ${cap}, used ${bytes(stats.used)} (pinned ${bytes(pinned)}, evictable ${bytes(evictable)}), ` +
      `${unbounded ? '' : `free ${bytes(stats.free)}, largest free ${bytes(stats.largestFree)}, `}fragmentation ${(stats.fragmentation * 100).toFixed(1)}%</text>\n`
    y += 20
    // The layout: objects at their offsets.
    const barH = 30
    body += `<rect x="${left}" y="${y}" width="${barW}" height="${barH}" fill="#f4f4f4" stroke="#cccccc"/>\n`
    for (const o of resident.sort((a, b) => (a.offset! < b.offset! ? -1 : 1))) {
      const x0 = left + frac(o.offset!, 0n, scale) * barW
      const w = Math.max(1, left + frac(o.offset! + o.size, 0n, scale) * barW - x0)
      const label = labelOf(o, options)
      const pin = o.pinCount > 0
      body += `<rect x="${x0.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${barH}" fill="${colorOf(o, options)}"${w >= 3 ? ' stroke="#ffffff"' : ''}>`
      body += `<title>${esc(label)} [${hex(o.offset!)}, ${hex(o.offset! + o.size)})${pin ? ' pinned' : ''}</title></rect>\n`
      if (pin)
        body += `<rect x="${x0.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${barH}" fill="url(#pinned)" stroke="#000000" stroke-width="1.5"/>\n`
      const text = pin ? `${label} (pinned)` : label
      if (w > text.length * 6.6 + 6) {
        body += `<text x="${(x0 + w / 2).toFixed(2)}" y="${y + barH / 2 + 4}" text-anchor="middle" font-size="11" fill="#ffffff" stroke="#000000" stroke-opacity="0.35" stroke-width="2" paint-order="stroke">${esc(text)}</text>\n`
      }
      used.set(o, o.size)
    }
    y += barH + 4
    // Proportions: pinned | evictable | other used | free.
    const parts: [bigint, string, string][] = [
      [pinned, '#444444', 'pinned'],
      [evictable, '#4c9be8', 'evictable'],
      [stats.used > pinned + evictable ? stats.used - pinned - evictable : 0n, '#a0a0a0', 'other used'],
      [unbounded ? 0n : stats.free, '#e6f2e6', 'free'],
    ]
    let x = left
    for (const [n, fill, what] of parts) {
      const w = frac(n, 0n, scale) * barW
      if (w <= 0) continue
      body += `<rect x="${x.toFixed(2)}" y="${y}" width="${Math.max(1, w).toFixed(2)}" height="8" fill="${fill}"><title>${what} ${bytes(n)}</title></rect>`
      x += w
    }
    body += '\n'
    y += 14
    body += `<text x="${left}" y="${y + 8}" font-size="10" fill="#555555">0x0</text>`
    body += `<text x="${left + barW}" y="${y + 8}" text-anchor="end" font-size="10" fill="#555555">${hex(scale)}</text>\n`
    y += 22
  }
  const entries: LegendEntry[] = [
    { fill: '#444444', text: 'pinned' },
    { fill: '#4c9be8', text: 'evictable (on the LRU)' },
    { fill: '#a0a0a0', text: 'other used' },
    { fill: '#e6f2e6', text: 'free' },
  ]
  const lg = legend(entries, left, y, barW)
  body += lg.svg
  y += lg.height + 8
  return `${svgOpen(width, y) + body}</svg>\n`
}

/** Stacks SVG documents vertically into one (each keeps its own coordinates). */
export function stackSvgs(parts: readonly string[]): string {
  let width = 0
  let y = 0
  let body = ''
  for (const part of parts) {
    const m = /^<svg[^>]*\bwidth="(\d+(?:\.\d+)?)"[^>]*\bheight="(\d+(?:\.\d+)?)"/.exec(part)
    if (!m) throw new DrmError('EINVAL', 'stackSvgs: each part must be an <svg> with width and height')
    const [w, h] = [Number(m[1]), Number(m[2])]
    body += part.replace(/^<svg /, `<svg x="0" y="${y}" `)
    width = Math.max(width, w)
    y += h
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">\n` +
    body +
    '</svg>\n'
  )
}

/**
 * The picture of a replay's end state: each live VA space, then the memory
 * domains (when the device has the placement API). Objects go by their
 * replay names, each keeping one colour in every panel.
 */
export function renderReplay(
  result: Pick<ReplayResult, 'vms' | 'objects' | 'device' | 'nameOf'>,
  options: { width?: number; title?: string } = {},
): string {
  const order = new Map<GemObject, number>()
  for (const obj of result.objects.values()) order.set(obj, order.size)
  const style: ObjectStyle = {
    label: (obj) => result.nameOf(obj) ?? `#${obj.id}`,
    colorIndex: (obj) => order.get(obj) ?? obj.id - 1,
  }
  const parts: string[] = []
  for (const [name, vm] of result.vms) {
    parts.push(
      renderVaSpace(vm, {
        ...style,
        width: options.width,
        title: `${options.title ? `${options.title}: ` : ''}VA space '${name}'`,
      }),
    )
  }
  if (typeof (result.device as unknown as DomainSource).memory === 'function') {
    parts.push(renderDomains(result.device, { ...style, width: options.width, objects: result.objects.values() }))
  }
  if (parts.length === 0)
    throw new DrmError('EINVAL', 'nothing to draw: no VA space is left and the device has no domains')
  return stackSvgs(parts)
}
