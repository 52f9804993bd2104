//! `drm_gpuvm_madvise_ops_create` (lib/contract/hub.md, "madvise"): the
//! request is checked and walked as `sm_map` does, but only object-less
//! mappings take part. Nothing is unmapped and `keep` is always false; an
//! object-less mapping that the request cuts is split by a REMAP, and a MAP
//! follows only where a split happened: at once for the part of a mapping
//! that the request covers when the mapping sticks out on one side only and
//! the walk goes on past it (or stops at its end), else one MAP of the whole
//! request after the walk.

use super::super::{GpuVm, ObjId, Op, OpMap, OpRemap, OpUnmap, NO_OBJ};
use crate::errno::Result;

impl GpuVm {
  /// The madvise step list for `[addr, addr + range)`; the VA space is
  /// unchanged. EINVAL in the seed's era or for a range `sm_map` refuses.
  pub fn madvise_ops(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Result<Vec<Op>> {
    self.hub_on()?;
    self.check_range(addr, range)?;
    let end = addr.wrapping_add(range);
    let blank = |addr: u64, range: u64| Op::Map(OpMap::bare(addr, range));
    let mut ops = Vec::new();
    let mut map_request = false;
    let mut cur = self.find_first(addr, range);
    while let Some(va) = cur.filter(|va| va.addr < end) {
      cur = self.next_after(&va);
      if va.obj != NO_OBJ {
        continue;
      }
      let (a, e) = (va.addr, va.end());
      // The part before the request, and the part after it, each kept
      // object-less at the offset it had.
      let prev = (a < addr).then_some(OpMap {
        addr: a,
        range: addr - a,
        obj: NO_OBJ,
        offset: va.offset,
      });
      let next = (e > end).then(|| OpMap {
        addr: end,
        range: e - end,
        obj: NO_OBJ,
        offset: va.offset.wrapping_add(end - a),
      });
      if prev.is_none() && next.is_none() {
        // Inside the request: nothing to split.
        continue;
      }
      ops.push(Op::Remap(OpRemap {
        prev,
        next,
        unmap: OpUnmap { va, keep: false },
      }));
      if a > addr {
        // Starts inside the request and outlives it: its covered head, and
        // the walk is over (no MAP of the request).
        ops.push(blank(a, end - a));
        return Ok(ops);
      }
      if next.is_none() && e < end {
        // Starts before the request and ends inside it: its covered tail,
        // and the walk goes on.
        ops.push(blank(addr, e - addr));
        continue;
      }
      map_request = true;
      break;
    }
    if map_request {
      ops.push(Op::Map(OpMap {
        addr,
        range,
        obj,
        offset,
      }));
    }
    Ok(ops)
  }
}

#[cfg(test)]
mod tests;
