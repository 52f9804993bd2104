//! The optional page-table cost model (`crate::pagetable`) a VA space feeds
//! from its insert and remove choke points. `None` by default: a VA space
//! without one pays a test of an empty pointer per insert or remove.

use super::{GpuVm, OpRemap, Va};
use crate::errno::Result;
use crate::pagetable::{Mapping, PageTable, Profile};

fn mapping(va: &Va) -> Mapping {
  Mapping {
    addr: va.addr,
    range: va.range,
    obj: va.obj,
    offset: va.offset,
  }
}

impl GpuVm {
  /// Attaches a page table of `profile`, built from the mappings already
  /// there (that work is counted, in a request of its own); EINVAL for a bad
  /// profile or a VA space that does not fit its VA.
  pub fn attach_page_table(&mut self, profile: Profile) -> Result<()> {
    self.alive()?;
    let mut pt = PageTable::new(profile)?;
    pt.check_fits(self.mm_start, self.mm_range)?;
    pt.begin_request();
    for va in self.iter().filter(|va| !va.is_kernel_node()) {
      pt.mapped(&mapping(&va));
    }
    self.pt = Some(Box::new(pt));
    Ok(())
  }

  pub fn page_table(&mut self) -> Option<&mut PageTable> {
    self.pt.as_deref_mut()
  }

  #[inline(always)]
  pub(super) fn pt_mapped(&mut self, va: &Va) {
    if let Some(pt) = self.pt.as_deref_mut() {
      pt.mapped(&mapping(va));
    }
  }

  #[inline(always)]
  pub(super) fn pt_unmapped(&mut self, va: &Va) {
    if let Some(pt) = self.pt.as_deref_mut() {
      pt.unmapped(&mapping(va));
    }
  }

  /// A remap with pieces takes its old mapping out; the pieces follow as
  /// inserts (one without pieces is a remove).
  #[inline(always)]
  pub(super) fn pt_remap(&mut self, r: &OpRemap) {
    if let Some(pt) = self.pt.as_deref_mut() {
      let mut pieces = [mapping(&r.unmap.va); 2];
      let mut n = 0;
      for p in [r.prev, r.next].into_iter().flatten() {
        pieces[n] = Mapping {
          addr: p.addr,
          range: p.range,
          obj: p.obj,
          offset: p.offset,
        };
        n += 1;
      }
      if n > 0 {
        pt.detached(&mapping(&r.unmap.va), &pieces[..n]);
      }
    }
  }

  /// A request starts (`bind`, `unbind`).
  #[inline(always)]
  pub(super) fn pt_begin(&mut self) {
    if let Some(pt) = self.pt.as_deref_mut() {
      pt.begin_request();
    }
  }
}
