/**
 * The page-table cost model of a VA space (issue 15), as the public API
 * shows it: `new GpuVm({ ..., pageTable: 'xe' })` then `vm.pageTable`.
 * drmsim adds this model (the kernel's drm_gpuvm keeps no page table); its
 * rules are in native/core/src/pagetable/mod.rs and the README.
 */
import {
  checkPageTableProfile,
  PAGE_TABLE_PROFILES,
  type PageTableCore,
  type PageTableCost,
  type PageTableOccupancy,
  type PageTableProfile,
  type PageTableProfileName,
  type PageTableRecord,
} from '../contract/pagetable.js'
import { describe } from '../base/check.js'
import { DrmError } from '../base/errors.js'

export {
  PAGE_TABLE_PROFILES,
  type PageTableCost,
  type PageTableOccupancy,
  type PageTableProfile,
  type PageTableProfileName,
  type PageTableRecord,
}
export type { PageTableLevel } from '../contract/pagetable.js'

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/** A built-in profile's name or a profile, checked and copied (EINVAL for anything else). */
export function readPageTableProfile(v: unknown): PageTableProfile {
  if (typeof v === 'string') {
    if (Object.hasOwn(PAGE_TABLE_PROFILES, v)) return PAGE_TABLE_PROFILES[v as PageTableProfileName]
    throw new DrmError('EINVAL', `no page-table profile '${v}' (${Object.keys(PAGE_TABLE_PROFILES).join(', ')})`)
  }
  if (!isRecord(v) || !Array.isArray(v.levels)) {
    throw new DrmError('EINVAL', `pageTable must be a profile name or a profile object, got ${describe(v)}`)
  }
  const levels = v.levels.map((l: unknown, i: number) => {
    if (!isRecord(l)) throw new DrmError('EINVAL', `page-table level ${i} must be an object, got ${describe(l)}`)
    return Object.freeze({ bits: l.bits, entryBytes: l.entryBytes, leaf: l.leaf }) as PageTableProfile['levels'][0]
  })
  const name = v.name ?? 'custom'
  if (typeof name !== 'string')
    throw new DrmError('EINVAL', `page-table profile name must be a string, got ${describe(name)}`)
  const profile = { name, pageShift: v.pageShift ?? 12, levels: Object.freeze(levels) } as PageTableProfile
  return Object.freeze(checkPageTableProfile(profile))
}

/** A VA space's page table: its costs (in total and for the last request) and its occupancy. */
export class PageTable {
  /** The shape it follows. */
  readonly profile: PageTableProfile
  readonly #core: PageTableCore

  /** @internal Made by `GpuVm`. */
  constructor(core: PageTableCore, profile: PageTableProfile) {
    this.#core = core
    this.profile = profile
  }

  /** Everything at once (one engine call): costs, the last request's TLB ranges, occupancy. */
  info(): PageTableRecord {
    return this.#core.pageTableInfo() ?? this.#none()
  }

  /** The cost of everything since the page table was attached (a cheap read: O(1)). */
  get total(): PageTableCost {
    return this.#core.pageTableCost('total') ?? this.#none()
  }

  /** The cost of the last request (bind, unbind, a batch's last request), or since `beginRequest` (O(1)). */
  get last(): PageTableCost {
    return this.#core.pageTableCost('last') ?? this.#none()
  }

  /** The table as it stands, per level (O(levels): both engines keep the counts as the tables change). */
  get occupancy(): PageTableOccupancy {
    return this.#core.pageTableOccupancy() ?? this.#none()
  }

  #none(): never {
    throw new DrmError('EINVAL', 'the VA space has no page table')
  }

  /** Starts a new request window, for callers that apply steps themselves (`vm.apply`). */
  beginRequest(): void {
    this.#core.pageTableBeginRequest()
  }
}
