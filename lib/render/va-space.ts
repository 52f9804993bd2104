import { hex } from '../base/check.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { VmBo } from '../gpuvm/vm-bo.js'
import { ERAS } from '../contract/hub.js'
import type { Va } from '../gpuvm/va.js'
import { labelOf, ObjectColours, type ObjectStyle } from './colors.js'
import { pageTablePanel } from './pagetable.js'
import { bytes, pow2Ticks } from './scale.js'
import { esc, heading, legend, type LegendEntry, pictureWidth, px, svgOpen, textWidth } from './svg.js'
import { frac } from './scale.js'

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
