/**
 * The reference engine's page-table cost model: attaching one to a VA space
 * (native/core/src/gpuvm/page_table.rs) and reading it.
 */
import type { PageTableProfile, PageTableRecord } from '../../contract/pagetable.js'
import type { VaRecord } from '../../contract/vm.js'
import { DrmError } from '../../base/errors.js'
import { hex } from '../../base/check.js'
import { PageTableModel, type PtMapping } from './model.js'

export { PageTableModel, type PtMapping }

/** A page table of `profile` built from `mappings` (counted as one request); EINVAL when the VA space does not fit. */
export function attachModel(
  profile: PageTableProfile,
  start: bigint,
  range: bigint,
  mappings: readonly VaRecord[],
): PageTableModel {
  const pt = new PageTableModel(profile)
  if (start + range > 1n << BigInt(pt.vaBits)) {
    throw new DrmError(
      'EINVAL',
      `VA space [${hex(start)}, +${hex(range)}) does not fit the ${pt.vaBits}-bit VA of page-table profile '${profile.name}'`,
    )
  }
  pt.beginRequest()
  for (const va of mappings) if (va.seq !== 0) pt.mapped(va)
  return pt
}

export function modelInfo(pt: PageTableModel): PageTableRecord {
  const occupancy = pt.occupancy()
  return { total: pt.total(), last: pt.lastRequest(), lastTlbRanges: pt.lastTlbRanges(), occupancy }
}
