/**
 * `--cost` and `--pt-profile` (issue 15), shared by `vmbind` and `replay`:
 * the page-table cost model's report, for people (a table), as JSON (a
 * `cost` object) and as one machine line.
 */
import { type Command, Option } from 'commander'
import {
  PAGE_TABLE_PROFILES,
  type PageTableCost,
  type PageTableOccupancy,
  type PageTableProfile,
} from '../contract/pagetable.js'
import { levelShift } from '../contract/pagetable.js'
import { bytes } from '../render/scale.js'
import { pteWritesSpread, type VmbindRequestCosts } from '../workloads/vmbind-cost.js'
import { count, counted } from './common.js'

/** What a report of page-table costs needs. */
export interface CostReport {
  profile: PageTableProfile
  total: PageTableCost
  occupancy: PageTableOccupancy
  /** A vmbind run's per-request costs (the worst request, the spread of PTE writes). */
  requests?: VmbindRequestCosts
}

export function addCostOptions(cmd: Command): Command {
  return cmd
    .option(
      '--cost',
      'also run a page-table cost model (a model drmsim adds; see the README) and report PTE writes, table pages, TLB invalidations and huge-page splits',
    )
    .addOption(
      new Option('--pt-profile <name>', "with --cost: the driver's page-table shape (default xe)").choices(
        Object.keys(PAGE_TABLE_PROFILES),
      ),
    )
}

const COUNTS = [
  ['pteWrites', 'PTE writes'],
  ['pdeWrites', 'PDE writes'],
  ['ptPagesAllocated', 'table pages allocated'],
  ['ptPagesFreed', 'table pages freed'],
  ['tlbInvalidations', 'TLB invalidations'],
  ['hugePageSplits', 'huge-page splits'],
  ['hugePagesFormed', 'huge pages formed'],
] as const

const mean = (n: number, requests: number): number => (requests > 0 ? Math.round((n / requests) * 1000) / 1000 : 0)

/** The `cost` object of a JSON report: totals, means per request, occupancy. */
export function costJson(c: CostReport, requests?: number): Record<string, unknown> {
  const totals = Object.fromEntries(COUNTS.map(([k]) => [k, c.total[k]]))
  const perRequest =
    requests === undefined
      ? {}
      : { perRequest: Object.fromEntries(COUNTS.map(([k]) => [k, mean(c.total[k], requests)])) }
  return {
    profile: c.profile.name,
    ...totals,
    tlbBytes: Number(c.total.tlbBytes),
    ...perRequest,
    occupancy: c.occupancy,
    ...(c.requests === undefined ? {} : requestsJson(c.requests)),
  }
}

/** `worst` (the request with the most PTE writes: its index and cost) and `pteWritesPerRequest`. */
function requestsJson(r: VmbindRequestCosts): Record<string, unknown> {
  if (r.worstRequest < 0) return {}
  const worst = { request: r.worstRequest, ...r.worst, tlbBytes: Number(r.worst.tlbBytes) }
  return { worst, pteWritesPerRequest: pteWritesSpread(r.pteSpread) }
}

/** The human lines of a run's per-request costs (labels no wider than the totals' column). */
function requestsLines(r: VmbindRequestCosts, w: number): string[] {
  if (r.worstRequest < 0) return []
  const c = r.worst
  const s = pteWritesSpread(r.pteSpread)
  const bin = (b: { lo: number; hi: number }): string => (b.lo === b.hi ? count(b.lo) : `${count(b.lo)}-${count(b.hi)}`)
  return [
    `  ${'worst request'.padEnd(w)} ${`#${r.worstRequest}`.padStart(14)}   ${counted(c.pteWrites, 'PTE write')}, ` +
      `${counted(c.pdeWrites, 'PDE write')}, ${counted(c.tlbInvalidations, 'TLB invalidation')}, ` +
      `${counted(c.hugePageSplits, 'huge-page split')}`,
    `  ${'PTE writes a request'.padEnd(w)} p50 ${count(s.p50)}, p90 ${count(s.p90)}, p99 ${count(s.p99)}, max ${count(s.max)}`,
    `  ${'PTE-write histogram'.padEnd(w)} ${s.histogram.map((b) => `${bin(b)}: ${count(b.requests)}`).join(', ')}`,
  ]
}

/** One line after the machine summary: `pt_cost profile=xe pte_writes=... ...`. */
export function costMachineLine(c: CostReport): string {
  const snake = (k: string): string => k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`)
  const fields = COUNTS.map(([k]) => `${snake(k)}=${c.total[k]}`)
  return `pt_cost profile=${c.profile.name} ${fields.join(' ')} tlb_bytes=${c.total.tlbBytes}`
}

/** The human report: what the model is, the totals with their means per request, the occupancy per level. */
export function costLines(c: CostReport, requests?: number): string[] {
  const p = c.profile
  const n = p.levels.length
  const sizes = p.levels
    .map((l, i) => (l.leaf ? bytes(2n ** BigInt(levelShift(p, i))) : undefined))
    .filter((s) => s !== undefined)
  const lines = [
    `page table (a drmsim model): profile ${p.name}, ${n} levels of ${p.levels.map((l) => 2 ** l.bits).join('/')} entries, ` +
      `${levelShift(p, n)}-bit VA, leaves of ${sizes.join(' / ')}`,
  ]
  const w = Math.max(...COUNTS.map(([, label]) => label.length))
  for (const [k, label] of COUNTS) {
    const each = requests === undefined ? '' : `   ${mean(c.total[k], requests)} a request`
    lines.push(`  ${label.padEnd(w)} ${count(c.total[k]).padStart(14)}${each}`)
  }
  lines.push(`  ${'TLB bytes'.padEnd(w)} ${bytes(c.total.tlbBytes).padStart(14)}`)
  if (c.requests) lines.push(...requestsLines(c.requests, w))
  const o = c.occupancy
  for (let i = n - 1; i >= 0; i--) {
    const leaves = p.levels[i].leaf ? `, ${count(o.leaves[i])} leaves` : ''
    lines.push(
      `  L${i}${i === n - 1 ? ' (root)' : ''}: ${counted(o.tables[i], 'table')}, ${counted(o.entries[i], 'entry', 'entries')}${leaves}`,
    )
  }
  lines.push(`  ${bytes(o.bytes)} of page tables at the end`)
  return lines
}
