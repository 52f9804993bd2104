/**
 * Pictures: SVG of a GPU VA space (mappings as bars along the address axis,
 * coloured by GEM object; in a drm_gpuvm, each object outlined as external
 * or private, evicted vm_bos hatched, and a panel of the extobj, evict and
 * defer lists) and of a device's memory domains (every resident object at
 * its offset, pinned ones hatched, with used / free / pinned / evictable /
 * fragmentation); a replay's or a scenario's end state. Pure functions
 * returning SVG text. Time series are drawn by plot.ts.
 */
import type { Device } from '../device/device.js'
import { DrmError } from '../base/errors.js'
import { hex } from '../base/check.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { VmBo } from '../gpuvm/vm-bo.js'
import { ERAS } from '../contract/hub.js'
import type { DomainStats, PlaceDomain } from '../device/placement.js'
import type { ReplayResult } from '../replay/index.js'
import type { Va } from '../gpuvm/va.js'
import { labelOf, ObjectColours, type ObjectStyle } from './colors.js'
import { pageTablePanel } from './pagetable.js'
import { bytes, pow2Ticks } from './scale.js'
import { esc, heading, legend, type LegendEntry, pictureWidth, px, stackSvgs, svgOpen, textWidth } from './svg.js'

export { DEFAULT_COLOURED, OTHER_GREYS, PALETTE, type ObjectStyle } from './colors.js'
export { bytes } from './scale.js'
export { stackSvgs } from './svg.js'

export interface VaRenderOptions extends ObjectStyle {
  title?: string
  /** Width in pixels (default 960). */
  width?: number
  /** Zoom: the first address drawn (default: the lowest mapping, kernel node aside). */
  from?: bigint
  /** Zoom: the end of the range drawn (default: the end of the highest mapping). */
  to?: bigint
  /** The address axis is cut into at most this many rows (default: 1 per 48 mappings, at most 16). */
  rows?: number
}

/** Where `a` falls in [from, from + span) as a fraction, without losing bigint precision where it matters. */
function frac(a: bigint, from: bigint, span: bigint): number {
  if (a <= from) return 0
  const d = a - from
  if (d >= span) return 1
  return Number((d * 1_000_000_000n) / span) / 1e9
}

/** A row length for cutting `span` into at most `rows` rows: a multiple of a power of two, page-aligned when large. */
function rowLength(span: bigint, rows: number): bigint {
  const exact = (span + BigInt(rows) - 1n) / BigInt(rows)
  if (rows === 1) return exact
  // Round up to a multiple of the largest power of two at most a quarter of it, so row starts stay round.
  let grain = 1n
  while (grain * 8n <= exact) grain <<= 1n
  if (exact >= 0x10000n && grain < 0x1000n) grain = 0x1000n
  return ((exact + grain - 1n) / grain) * grain
}

/** The ticks of one address row [rs, re] drawn `width` pixels wide: round hex labels that do not overlap. */
function addressAxis(rs: bigint, re: bigint, x: number, y: number, width: number, span: bigint): string {
  const chars = hex(re).length
  // The last row may be shorter than the others, at their scale: as many ticks as its own width holds.
  const drawn = frac(re, rs, span) * width
  const most = Math.max(1, Math.floor(drawn / (textWidth('0'.repeat(chars), 10) + 28)))
  let svg = ''
  const labels: { tx: number; text: string; anchor: string; left: number; right: number }[] = []
  for (const t of pow2Ticks(rs, re, most)) {
    const tx = x + frac(t, rs, span) * width
    const text = hex(t)
    // Hex digits run a little wider than textWidth's estimate.
    const w = textWidth(text, 10) * 1.1
    const anchor = tx - w / 2 < x - 2 ? 'start' : tx + w / 2 > x + width + 2 ? 'end' : 'middle'
    const left = anchor === 'start' ? tx : anchor === 'end' ? tx - w : tx - w / 2
    svg += `<line x1="${px(tx)}" y1="${y}" x2="${px(tx)}" y2="${y + 4}" stroke="#666666"/>`
    labels.push({ tx, text, anchor, left, right: left + w })
  }
  // A label pushed aside by the row's start or end may run into its neighbour: the neighbour goes
  // unlabelled, so that the first and the last tick keep theirs.
  const kept: typeof labels = []
  for (const [i, l] of labels.entries()) {
    const prev = kept.at(-1)
    if (prev && l.left < prev.right + 6) {
      if (i < labels.length - 1 || kept.length === 1) continue
      kept.pop()
    }
    kept.push(l)
  }
  for (const l of kept)
    svg += `<text x="${px(l.tx)}" y="${y + 16}" text-anchor="${l.anchor}" font-size="10" fill="#555555">${l.text}</text>\n`
  return svg
}

/** What a drm_gpuvm's picture shows of its hub: the vm_bos, by object and in the lists. */
interface HubView {
  era: string
  refcount: number
  resvProtected: boolean
  immediateMode: boolean
  vmBos: number
  /** Each object's live vm_bo: external or private, evicted or not. */
  live: Map<GemObject, { id: number; external: boolean; evicted: boolean }>
  lists: { name: string; what: string; bos: VmBo[] }[]
}

/** The hub of `vm` as the picture shows it; null for a seed-era VA space. */
function hubView(vm: GpuVm): HubView | null {
  if (vm.era === ERAS[0]) return null
  const all = vm.vmBos()
  const live = new Map<GemObject, { id: number; external: boolean; evicted: boolean }>()
  for (const bo of all) if (!bo.zombie) live.set(bo.obj, { id: bo.id, external: bo.external, evicted: bo.evicted })
  return {
    era: vm.era,
    refcount: vm.refcount,
    resvProtected: vm.resvProtected,
    immediateMode: vm.immediateMode,
    vmBos: all.length,
    live,
    lists: [
      { name: 'extobj list', what: 'external objects, locked by prepare_objects', bos: vm.extobjList() },
      { name: 'evict list', what: 'to validate', bos: vm.evictList() },
      { name: 'defer list', what: 'zombies, newest first', bos: vm.deferList() },
    ],
  }
}

/** The outline that tells an external object (its own reservation: dashed) from a private one (solid). */
const OUTLINE = {
  external: { width: 2, dash: '5 3' },
  private: { width: 1.5 },
} as const

/** An outline drawn inside the box [x, y, w, h], as the legend's squares show it. */
function outline(x: number, y: number, w: number, h: number, o: { width: number; dash?: string }): string {
  const i = o.width / 2
  const dash = o.dash ? ` stroke-dasharray="${o.dash}"` : ''
  return `<rect x="${px(x + i)}" y="${px(y + i)}" width="${px(w - 2 * i)}" height="${px(h - 2 * i)}" fill="none" stroke="#111111" stroke-width="${o.width}"${dash}/>`
}

/** Most vm_bos drawn per list in the panel; the rest are counted. */
const PANEL_CHIPS = 48

/**
 * The drm_gpuvm panel under a VA space's legend: its era, flags and
 * refcount, then the extobj, evict and defer lists, each vm_bo a chip in
 * its object's colour and outline (hatched when evicted).
 */
function hubPanel(
  hub: HubView,
  colours: ObjectColours,
  style: ObjectStyle,
  x: number,
  top: number,
  width: number,
): { svg: string; height: number } {
  let y = top
  const flags = [hub.resvProtected && 'RESV_PROTECTED', hub.immediateMode && 'IMMEDIATE_MODE'].filter(Boolean)
  const external = [...hub.live.values()].filter((b) => b.external).length
  const evicted = [...hub.live.values()].filter((b) => b.evicted).length
  let svg = `<text x="${x}" y="${y + 12}" font-weight="bold" fill="#222222">${esc(
    `drm_gpuvm (era ${hub.era}${flags.length ? `, ${flags.join(', ')}` : ''}): refcount ${hub.refcount}, ` +
      `${hub.vmBos} vm_bo${hub.vmBos === 1 ? '' : 's'} (${external} external, ${evicted} evicted)`,
  )}</text>
`
  y += 22
  const labelW = 190
  for (const list of hub.lists) {
    svg += `<text x="${x}" y="${y + 11}" fill="#222222">${esc(`${list.name} (${list.bos.length})`)}</text>`
    svg += `<text x="${x}" y="${y + 24}" font-size="10" fill="#777777">${esc(list.what)}</text>
`
    let cx = x + labelW
    let cy = y
    if (list.bos.length === 0)
      svg += `<text x="${cx}" y="${cy + 11}" fill="#999999">empty</text>
`
    for (const bo of list.bos.slice(0, PANEL_CHIPS)) {
      const text = `${labelOf(bo.obj, style)} #${bo.id}`
      const w = 20 + textWidth(text) + 14
      if (cx + w > x + width && cx > x + labelW) {
        cx = x + labelW
        cy += 20
      }
      const b = hub.live.get(bo.obj)
      const state = b?.id === bo.id ? b : null
      svg += `<rect x="${cx}" y="${cy}" width="14" height="14" fill="${colours.of(bo.obj)}"/>`
      if (state?.evicted) svg += `<rect x="${cx}" y="${cy}" width="14" height="14" fill="url(#evicted)"/>`
      svg += outline(
        cx,
        cy,
        14,
        14,
        state === null ? { width: 1, dash: '2 2' } : OUTLINE[state.external ? 'external' : 'private'],
      )
      svg += `<text x="${cx + 19}" y="${cy + 11}" fill="#222222">${esc(text)}</text>
`
      cx += w
    }
    if (list.bos.length > PANEL_CHIPS)
      svg += `<text x="${cx}" y="${cy + 11}" fill="#555555">${esc(`and ${list.bos.length - PANEL_CHIPS} more`)}</text>
`
    y = Math.max(cy + 20, y + 30)
  }
  return { svg, height: y - top }
}

/**
 * An SVG of `vm`: each mapping a bar at its place along the address axis,
 * coloured by its GEM object, with a white edge between neighbours so that
 * split pieces of one object stay visible; sparse (object-less) mappings
 * dotted, the kernel-reserved node hatched grey. Zoomed to the used range
 * unless `from` / `to` say otherwise; the axis is cut into rows when there
 * are many mappings, and its ticks are round hex addresses. The objects with
 * the most mapped bytes get a colour and a legend entry (see ObjectStyle);
 * the others are grey. In a drm_gpuvm, a mapping whose object is external
 * (its own reservation) has a dashed outline and a private one (the VM's
 * reservation) a solid one; an evicted vm_bo's mappings are cross-hatched;
 * a panel under the legend lists the extobj, evict and defer lists.
 */
export function renderVaSpace(vm: GpuVm, options: VaRenderOptions = {}): string {
  const width = pictureWidth(options.width)
  const all: Va[] = [...vm.vas()]
  const mappings = all.filter((va) => !va.isKernelNode)
  const shown = mappings.length ? mappings : all
  const from = options.from ?? (shown.length ? shown[0].addr : vm.start)
  let to = options.to ?? (shown.length ? shown.reduce((m, va) => (va.end > m ? va.end : m), 0n) : vm.start + vm.range)
  if (to <= from) to = from + 1n
  const span = to - from
  const asked = Math.trunc(options.rows ?? Math.min(16, Math.ceil(mappings.length / 48) || 1))
  const rowSpan = rowLength(span, Math.max(1, Math.min(64, asked || 1)))
  const rows = Number((span + rowSpan - 1n) / rowSpan)

  const perObject = new Map<GemObject, bigint>()
  for (const va of mappings)
    if (va.obj && va.end > from && va.addr < to) {
      const lo = va.addr > from ? va.addr : from
      const hi = va.end < to ? va.end : to
      perObject.set(va.obj, (perObject.get(va.obj) ?? 0n) + (hi - lo))
    }
  const colours = new ObjectColours(perObject, options)
  const hub = hubView(vm)

  const left = 16
  const barW = width - 2 * left
  const barH = 30
  const lane = 6 // above each bar: a marker for each thin mapping of a coloured object, so that it can be found
  const rowH = lane + barH + 30
  let y = 14
  let body = heading(left, y, options.title ?? `VA space '${vm.name}'`)
  y += 22
  const mapped = mappings.reduce((n, va) => n + va.range, 0n)
  body +=
    `<text x="${left}" y="${y + 12}" fill="#444444">${mappings.length} mapping${mappings.length === 1 ? '' : 's'}, ` +
    `${bytes(mapped)} mapped; showing [${hex(from)}, ${hex(to)}) of [${hex(vm.start)}, ${hex(vm.start + vm.range)})` +
    `${rows > 1 ? `, ${rows} rows of ${hex(rowSpan)}` : ''}</text>\n`
  y += 26

  let sparse = false
  let kernel = false
  const marked = { external: false, private: false, evicted: false }
  for (let r = 0; r < rows; r++) {
    const rs = from + BigInt(r) * rowSpan
    const re = rs + rowSpan < to ? rs + rowSpan : to
    // The last row may be shorter: it ends at `to`, at the scale of the others.
    const rowW = frac(re, rs, rowSpan) * barW
    let markers = ''
    y += lane
    body += `<rect x="${left}" y="${y}" width="${px(rowW)}" height="${barH}" fill="#f4f4f4" stroke="#cccccc"/>\n`
    for (const va of all) {
      if (va.end <= rs || va.addr >= re) continue
      const x0 = left + frac(va.addr, rs, rowSpan) * barW
      const x1 = left + frac(va.end < re ? va.end : re, rs, rowSpan) * barW
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
        fill = colours.of(va.obj)
        what = `${labelOf(va.obj, options)} +${hex(va.offset)}`
        if (w < 4 && colours.coloured(va.obj))
          markers += `<rect x="${px(x0 + w / 2 - 1.5)}" y="${y - lane}" width="3" height="${lane - 1}" fill="${fill}"/>`
      }
      const bo = va.obj && !va.isKernelNode ? hub?.live.get(va.obj) : undefined
      const tip = bo
        ? `${what}, vm_bo #${bo.id} ${bo.external ? 'external' : 'private'}${bo.evicted ? ', evicted' : ''}`
        : what
      const edge = w >= 3 ? ' stroke="#ffffff" stroke-width="1"' : ''
      body += `<rect x="${px(x0)}" y="${y}" width="${px(w)}" height="${barH}" fill="${fill}"${edge}>`
      body += `<title>[${hex(va.addr)}, ${hex(va.end)}) ${esc(tip)}</title></rect>\n`
      if (bo) {
        if (bo.evicted) {
          body += `<rect x="${px(x0)}" y="${y}" width="${px(w)}" height="${barH}" fill="url(#evicted)"/>`
          marked.evicted = true
        }
        const kind = bo.external ? 'external' : 'private'
        marked[kind] = true
        if (w >= 4) body += `${outline(x0 + 1, y + 1, w - 2, barH - 2, OUTLINE[kind])}\n`
      }
      const text = va.isKernelNode ? 'kernel' : va.obj === null ? 'sparse' : what
      if (w > textWidth(text, 11) + 6) {
        const dark = va.obj !== null && !va.isKernelNode && colours.coloured(va.obj)
        body += `<text x="${px(x0 + w / 2)}" y="${y + barH / 2 + 4}" text-anchor="middle" font-size="11" fill="${dark ? '#ffffff' : '#222222'}"${dark ? ' stroke="#000000" stroke-opacity="0.35" stroke-width="2" paint-order="stroke"' : ''}>${esc(text)}</text>\n`
      }
    }
    if (markers) body += `${markers}\n`
    body += addressAxis(rs, re, left, y + barH, barW, rowSpan)
    y += rowH - lane
  }

  const entries: LegendEntry[] = colours.legend()
  if (sparse) entries.push({ fill: 'url(#sparse)', text: 'sparse mapping' })
  if (kernel) entries.push({ fill: 'url(#hatch)', text: 'kernel-reserved' })
  if (hub) {
    // Every mark the picture uses: what each looks like is the point of a legend.
    if (marked.external)
      entries.push({ fill: '#ffffff', text: 'external object (own reservation)', outline: OUTLINE.external })
    if (marked.private)
      entries.push({ fill: '#ffffff', text: "private object (the VM's reservation)", outline: OUTLINE.private })
    if (marked.evicted) entries.push({ fill: '#ffffff', over: 'url(#evicted)', text: 'vm_bo evicted (to validate)' })
  }
  const lg = legend(entries, left, y, barW)
  body += lg.svg
  y += lg.height + 8
  if (hub) {
    const panel = hubPanel(hub, colours, options, left, y, barW)
    body += panel.svg
    y += panel.height + 4
  }
  // The page-table cost model's occupancy, when the VA space has one.
  const pt = vm.pageTable && pageTablePanel(vm.pageTable, left, y + 6, barW)
  if (pt) {
    body += pt.svg
    y += pt.height + 10
  }
  return `${svgOpen(width, y) + body}</svg>\n`
}

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
function resident(o: GemObject): boolean {
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

/**
 * The picture of a replay's end state: each live VA space, then the memory
 * domains (when the device has the placement API). Objects go by their
 * replay names; the objects with the most bytes mapped or resident get a
 * colour, the same one in every panel.
 */
export function renderReplay(
  result: Pick<ReplayResult, 'vms' | 'objects' | 'device' | 'nameOf'>,
  options: { width?: number; title?: string; legend?: number; from?: bigint; to?: bigint } = {},
): string {
  const order = new Map<GemObject, number>()
  for (const obj of result.objects.values()) order.set(obj, order.size)
  // One choice of coloured objects for every panel: by bytes mapped, then resident.
  const weight = new Map<GemObject, bigint>()
  for (const vm of result.vms.values())
    for (const va of vm.vas()) if (va.obj) weight.set(va.obj, (weight.get(va.obj) ?? 0n) + va.range)
  for (const obj of result.objects.values()) if (resident(obj)) weight.set(obj, (weight.get(obj) ?? 0n) + obj.size)
  const base: ObjectStyle = {
    label: (obj) => result.nameOf(obj) ?? `#${obj.id}`,
    colorIndex: (obj) => order.get(obj) ?? obj.id - 1,
    legend: options.legend,
  }
  const style: ObjectStyle = { ...base, highlight: new ObjectColours(weight, base).highlighted }
  const parts: string[] = []
  for (const [name, vm] of result.vms) {
    parts.push(
      renderVaSpace(vm, {
        ...style,
        width: options.width,
        from: options.from,
        to: options.to,
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

/** What renderScenario needs of a scenario's result. */
export interface ScenarioPicture {
  title: string
  /** The device as the story left it. */
  device?: Device | DomainSource
  /** Stories told on several devices, in order: each is drawn; the last is the end. */
  devices?: readonly (Device | DomainSource)[]
  /** VA spaces the story left alive (a drm_gpuvm's with its vm_bos and lists), drawn before the domains. */
  vms?: readonly GpuVm[]
  /** The story's names for its objects (default `#id`). */
  nameOf?: (obj: GemObject) => string | undefined
  /** What each device's part of the story shows, in `devices` order (in the panels' titles). */
  parts?: readonly string[]
}

/**
 * A scenario as its story left it (`drmsim scenario NAME --svg`): the VA
 * spaces still alive, then the memory domains with every resident object,
 * pinned ones included; one panel per device when the story used several,
 * the last one being its end.
 */
export function renderScenario(result: ScenarioPicture, options: { width?: number } = {}): string {
  const devices = result.devices?.length ? result.devices : result.device ? [result.device] : []
  if (devices.length === 0) throw new DrmError('EINVAL', 'renderScenario: the scenario left no device to draw')
  const nameOf = result.nameOf
  const style: ObjectStyle = nameOf ? namedStyle(devices, nameOf) : {}
  const vms = (result.vms ?? []).filter((vm) => !vm.destroyed)
  const width = pictureWidth(options.width)
  // Bold 15px text runs wider than textWidth's estimate for 12px regular.
  const head = wrap(result.title, Math.floor((width - 32) / (textWidth('m', 15) * 1.15)))
  let title = ''
  head.forEach((line, i) => {
    title += `<text x="16" y="${14 + 12 + i * 20}" font-size="15" font-weight="bold" fill="#111111">${esc(line)}</text>\n`
  })
  const header = `${svgOpen(width, 14 + head.length * 20 + 4) + title}</svg>\n`
  return stackSvgs([
    header,
    ...vms.map((vm) =>
      renderVaSpace(vm, { ...style, width: options.width, title: `VA space '${vm.name}' at the end` }),
    ),
    ...devices.map((device, i) =>
      renderDomains(device, {
        ...style,
        width: options.width,
        title:
          devices.length > 1
            ? `Memory domains, part ${i + 1} of ${devices.length}${result.parts?.[i] ? `: ${result.parts[i]}` : ''}${i === devices.length - 1 ? ' (the end)' : ''}`
            : 'Memory domains at the end',
      }),
    ),
  ])
}

/**
 * Labels and colours by name: an object keeps its colour in every panel of
 * a story, even on another device where the same name has another id. Names
 * take colours in the order the devices made their objects.
 */
function namedStyle(devices: readonly (Device | DomainSource)[], nameOf: (obj: GemObject) => string | undefined) {
  const order = new Map<string, number>()
  for (const device of devices) {
    const d = device as unknown as DomainSource
    if (typeof d.core?.objects !== 'function' || typeof d.object !== 'function') continue
    for (const rec of d.core.objects()) {
      const obj = d.object(rec.id)
      const name = obj && nameOf(obj)
      if (name !== undefined && !order.has(name)) order.set(name, order.size)
    }
  }
  return {
    label: (obj: GemObject) => nameOf(obj) ?? `#${obj.id}`,
    colorIndex: (obj: GemObject) => {
      const name = nameOf(obj)
      return name === undefined ? order.size + obj.id : (order.get(name) ?? order.size + obj.id)
    },
  } satisfies ObjectStyle
}

/** `text` cut at spaces into lines of at most `max` characters (a longer word stays whole). */
function wrap(text: string, max: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  if (line) lines.push(line)
  return lines
}
