/**
 * The picture of a device's memory domains: every resident object at its
 * offset, pinned ones hatched, with used / free / pinned / evictable /
 * fragmentation. A pure function returning SVG text (render.ts exports it).
 */
import type { Device } from '../device/device.js'
import { DrmError } from '../base/errors.js'
import { hex } from '../base/check.js'
import type { GemObject } from '../device/gem.js'
import type { DomainStats, PlaceDomain } from '../device/placement.js'
import { labelOf, ObjectColours, type ObjectStyle } from './colors.js'
import { bytes, pow2Ticks } from './scale.js'
import { esc, heading, legend, pictureWidth, px, svgOpen, textWidth } from './svg.js'
import { frac } from './scale.js'

/** What renderDomains needs of a device: the placement API (`memory`, `lru`), and its objects if it can list them. */
export interface DomainSource {
  memory(domain: PlaceDomain): DomainStats
  lru?(domain: PlaceDomain): GemObject[]
  /** A device's engine lists every object it made; `object(id)` finds each one's GemObject. */
  readonly core?: { objects?(): readonly { id: number; freed: boolean }[] }
  object?(id: number): GemObject | undefined
}

export interface DomainRenderOptions extends ObjectStyle {
  title?: string
  width?: number
  /**
   * The objects to draw at their offsets. Default: every live object of the
   * device (pinned ones included); for a source that cannot list its
   * objects, those on the domains' LRUs.
   */
  objects?: Iterable<GemObject>
}

/** A GEM object that has backing store in a domain, or false for one that is freed or cannot be read. */
export function resident(o: GemObject): boolean {
  try {
    return o.offset !== null && !o.freed
  } catch {
    return false
  }
}

/** Every live object of `d` with backing store: from its engine's list, else from the domains' LRUs. */
function residentObjects(d: DomainSource, domains: readonly PlaceDomain[]): GemObject[] {
  const listed = typeof d.core?.objects === 'function' && typeof d.object === 'function'
  const found = listed
    ? d.core!.objects!().flatMap((rec) => (rec.freed ? [] : (d.object!(rec.id) ?? [])))
    : domains.flatMap((domain) => {
        try {
          return d.lru ? d.lru(domain) : []
        } catch {
          return []
        }
      })
  return found.filter(resident)
}

const DOMAINS: readonly PlaceDomain[] = ['vram', 'gtt', 'system']

/**
 * An SVG of each memory domain of `device` (VRAM, GTT, SYSTEM; those it has):
 * every resident object at its offset, coloured as in `renderVaSpace`, pinned
 * ones hatched and outlined; a bar of pinned / evictable / other used / free;
 * an offset axis with round byte ticks; and the numbers, fragmentation
 * included (1 - largest free / free). SYSTEM is unbounded, so it is drawn up
 * to its highest used byte.
 */
export function renderDomains(device: Device | DomainSource, options: DomainRenderOptions = {}): string {
  const d = device as unknown as DomainSource
  if (typeof d.memory !== 'function')
    throw new DrmError('EINVAL', 'renderDomains needs a device with the placement API (device.memory)')
  const width = pictureWidth(options.width)
  const left = 16
  const barW = width - 2 * left
  let y = 14
  let body = heading(left, y, options.title ?? 'Memory domains')
  y += 30
  const objects = options.objects ? [...options.objects].filter(resident) : residentObjects(d, DOMAINS)
  const colours = new ObjectColours(new Map(objects.map((o) => [o, o.size])), options)
  for (const domain of DOMAINS) {
    let stats: DomainStats
    try {
      stats = d.memory(domain)
    } catch (err) {
      if (err instanceof DrmError && err.errno === 'EINVAL') continue // the device has no such domain
      throw err
    }
    const lru = new Set(d.lru ? d.lru(domain) : [])
    const here = objects.filter((o) => o.domain === domain).sort((a, b) => (a.offset! < b.offset! ? -1 : 1))
    let pinned = 0n
    let evictable = 0n
    for (const o of here) {
      if (o.pinCount > 0) pinned += o.size
      else if (lru.has(o)) evictable += o.size
    }
    const unbounded = stats.capacity === (1n << 64n) - 1n
    const highest = here.reduce((m, o) => (o.offset! + o.size > m ? o.offset! + o.size : m), 0n)
    const scale = unbounded ? (highest > 0n ? highest : 1n) : stats.capacity > 0n ? stats.capacity : 1n
    const cap = unbounded ? 'unbounded' : bytes(stats.capacity)
    body += `<text x="${left}" y="${y + 12}" font-size="14" font-weight="bold" fill="#111111">${domain.toUpperCase()}</text>`
    body +=
      `<text x="${left + 70}" y="${y + 12}" fill="#333333">capacity ${cap}, used ${bytes(stats.used)} (pinned ${bytes(pinned)}, evictable ${bytes(evictable)}), ` +
      `${unbounded ? '' : `free ${bytes(stats.free)}, largest free ${bytes(stats.largestFree)}, `}fragmentation ${(stats.fragmentation * 100).toFixed(1)}%</text>\n`
    y += 20
    // The layout: objects at their offsets.
    const barH = 30
    body += `<rect x="${left}" y="${y}" width="${barW}" height="${barH}" fill="#f4f4f4" stroke="#cccccc"/>\n`
    for (const o of here) {
      const x0 = left + frac(o.offset!, 0n, scale) * barW
      const w = Math.max(1, left + frac(o.offset! + o.size, 0n, scale) * barW - x0)
      const label = labelOf(o, options)
      const pin = o.pinCount > 0
      body += `<rect x="${px(x0)}" y="${y}" width="${px(w)}" height="${barH}" fill="${colours.of(o)}"${w >= 3 ? ' stroke="#ffffff"' : ''}>`
      body += `<title>${esc(label)} [${hex(o.offset!)}, ${hex(o.offset! + o.size)}) ${bytes(o.size)}${pin ? ' pinned' : ''}</title></rect>\n`
      if (pin)
        body += `<rect x="${px(x0)}" y="${y}" width="${px(w)}" height="${barH}" fill="url(#pinned)" stroke="#000000" stroke-width="1.5"/>\n`
      const text = pin ? `${label} (pinned)` : label
      if (w > textWidth(text, 11) + 6) {
        const dark = colours.coloured(o)
        body += `<text x="${px(x0 + w / 2)}" y="${y + barH / 2 + 4}" text-anchor="middle" font-size="11" fill="${dark ? '#ffffff' : '#222222'}"${dark ? ' stroke="#000000" stroke-opacity="0.35" stroke-width="2" paint-order="stroke"' : ''}>${esc(text)}</text>\n`
      }
    }
    if (here.length === 0)
      body += `<text x="${left + barW / 2}" y="${y + barH / 2 + 4}" text-anchor="middle" font-size="11" fill="#777777">${stats.used > 0n ? 'no object drawn here' : 'empty'}</text>\n`
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
      body += `<rect x="${px(x)}" y="${y}" width="${px(Math.max(1, w))}" height="8" fill="${fill}"><title>${what} ${bytes(n)}</title></rect>`
      x += w
    }
    body += '\n'
    y += 8
    if (!unbounded || here.length > 0) body += offsetAxis(scale, left, y, barW)
    y += 28
  }
  const objectsLegend = legend([...colours.legend(), { fill: 'url(#pinned)', text: 'pinned' }], left, y, barW)
  body += objectsLegend.svg
  y += objectsLegend.height + 4
  const caption = 'The thin bar under each domain, in bytes:'
  body += `<text x="${left}" y="${y + 11}" fill="#444444">${caption}</text>\n`
  const bar = legend(
    [
      { fill: '#444444', text: 'pinned' },
      { fill: '#4c9be8', text: 'evictable (on the LRU)' },
      { fill: '#a0a0a0', text: 'other used' },
      { fill: '#e6f2e6', text: 'free' },
    ],
    left + textWidth(caption) + 12,
    y,
    barW - textWidth(caption) - 12,
  )
  body += bar.svg
  y += bar.height + 8
  return `${svgOpen(width, y) + body}</svg>\n`
}

/** Offsets [0, scale] under a domain's bar: round byte ticks (0, 4 MiB, 8 MiB, ...), none past the end. */
function offsetAxis(scale: bigint, x: number, y: number, width: number): string {
  const most = Math.max(1, Math.floor(width / 80))
  let svg = ''
  for (const t of pow2Ticks(0n, scale, most)) {
    const tx = x + frac(t, 0n, scale) * width
    const label = t === 0n ? '0' : bytes(t)
    const half = textWidth(label, 10) / 2
    const anchor = tx - half < x - 2 ? 'start' : tx + half > x + width + 2 ? 'end' : 'middle'
    svg += `<line x1="${px(tx)}" y1="${y}" x2="${px(tx)}" y2="${y + 4}" stroke="#666666"/>`
    svg += `<text x="${px(tx)}" y="${y + 16}" text-anchor="${anchor}" font-size="10" fill="#555555">${label}</text>\n`
  }
  return svg
}
