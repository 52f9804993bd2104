/**
 * The page-table occupancy panel of a VA-space picture (issue 15): one row
 * per level, root first, a bar of the level's entries (leaves dark, pointers
 * to tables light, free entries grey) and what they cost so far.
 */
import type { PageTable } from '../gpuvm/page-table.js'
import { levelShift, type PageTableCost } from '../contract/pagetable.js'
import { bytes } from './scale.js'
import { esc, heading, px, textWidth } from './svg.js'

const LEAF = '#2e6fbd'
const POINTER = '#9cc3ea'
const FREE = '#eeeeee'

function costLine(label: string, c: PageTableCost): string {
  return (
    `${label}: ${c.pteWrites} PTE writes, ${c.pdeWrites} PDE writes, ${c.ptPagesAllocated} table pages allocated, ` +
    `${c.ptPagesFreed} freed, ${c.tlbInvalidations} TLB invalidations (${bytes(c.tlbBytes)}), ` +
    `${c.hugePageSplits} huge-page splits, ${c.hugePagesFormed} huge pages formed`
  )
}

/** The panel at (`left`, `top`), `width` wide: its SVG and the height it takes. */
export function pageTablePanel(pt: PageTable, left: number, top: number, width: number) {
  const info = pt.info()
  const { profile } = pt
  const o = info.occupancy
  const n = profile.levels.length
  let y = top
  let svg = heading(
    left,
    y,
    `Page table: profile '${profile.name}', ${n} levels, ${levelShift(profile, n)}-bit VA, ${bytes(o.bytes)} of tables (a drmsim model)`,
  )
  y += 22
  const size = (i: number): string => bytes(2n ** BigInt(levelShift(profile, i)))
  const label = (i: number): string =>
    `L${i}${i === n - 1 ? ' (root)' : ''}: ${o.tables[i]} table${o.tables[i] === 1 ? '' : 's'} of ` +
    `${2 ** profile.levels[i].bits} x ${profile.levels[i].entryBytes} B, ${size(i)} an entry`
  const labelW = Math.max(...profile.levels.map((_, i) => textWidth(label(i)))) + 12
  const barW = Math.max(60, width - labelW)
  for (let i = n - 1; i >= 0; i--) {
    const spec = profile.levels[i]
    const capacity = o.tables[i] * 2 ** spec.bits
    const leaves = o.leaves[i]
    const pointers = o.entries[i] - leaves
    svg += `<text x="${left}" y="${y + 13}" fill="#222222">${esc(label(i))}</text>\n`
    const x0 = left + labelW
    svg += `<rect x="${x0}" y="${y}" width="${barW}" height="18" fill="${FREE}" stroke="#cccccc"/>\n`
    if (capacity > 0) {
      const lw = (leaves / capacity) * barW
      const pw = (pointers / capacity) * barW
      if (lw > 0) svg += `<rect x="${x0}" y="${y}" width="${px(Math.max(1, lw))}" height="18" fill="${LEAF}"/>\n`
      if (pw > 0)
        svg += `<rect x="${px(x0 + lw)}" y="${y}" width="${px(Math.max(1, pw))}" height="18" fill="${POINTER}"/>\n`
    }
    const full = capacity > 0 ? `${((o.entries[i] / capacity) * 100).toFixed(1)}% full` : 'no table'
    const leafText = spec.leaf ? `, ${leaves} ${size(i)} leaves` : ''
    svg += `<text x="${x0 + 6}" y="${y + 13}" fill="#111111" stroke="#ffffff" stroke-width="3" paint-order="stroke">${esc(`${o.entries[i]} entries (${full}): ${pointers} to tables${leafText}`)}</text>\n`
    y += 24
  }
  const key: [string, string][] = [
    [LEAF, 'leaf (maps a page)'],
    [POINTER, 'points to a table'],
    [FREE, 'free entry'],
  ]
  let kx = left
  for (const [fill, text] of key) {
    svg += `<rect x="${kx}" y="${y}" width="14" height="14" fill="${fill}" stroke="#999999"/><text x="${kx + 19}" y="${y + 11}" fill="#222222">${esc(text)}</text>\n`
    kx += 40 + text.length * 7
  }
  y += 22
  for (const [label, c] of [
    ['total', info.total],
    ['last request', info.last],
  ] as const) {
    svg += `<text x="${left}" y="${y + 12}" fill="#444444">${esc(costLine(label, c))}</text>\n`
    y += 18
  }
  return { svg, height: y - top }
}
