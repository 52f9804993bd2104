//! The split/merge engine (`__drm_gpuva_sm_map` / `__drm_gpuva_sm_unmap`).
//!
//! The walk is a cursor that yields one step at a time, so a caller can apply
//! each step before asking for the next, as a driver's step callbacks do. Like
//! the kernel's safe iterator, the cursor remembers the mapping that followed
//! the current one before handing the step out; if the caller removed that
//! mapping too, the walk resumes at the next one still in the tree.

use super::{GpuVm, ObjId, Op, OpMap, OpRemap, OpUnmap, Va, NO_OBJ};
use crate::errno::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmKind {
  Map,
  Unmap,
}

#[derive(Clone, Copy, Debug)]
enum State {
  Start,
  Walk(Option<Va>),
  /// The walk is over; a map request still owes its MAP step.
  Tail,
  Done,
}

#[derive(Clone, Debug)]
pub struct SmCursor {
  kind: SmKind,
  req: OpMap,
  end: u64,
  state: State,
}

impl SmCursor {
  pub fn kind(&self) -> SmKind {
    self.kind
  }

  pub fn request(&self) -> OpMap {
    self.req
  }

  /// The next step, computed against the VA space as it is now.
  pub fn step(&mut self, vm: &GpuVm) -> Option<Op> {
    let found = match self.state {
      State::Start => vm.first_and_next(self.req.addr, self.req.range),
      State::Walk(next) => next.and_then(|v| vm.at_or_after(&v)),
      State::Tail => return self.finish(),
      State::Done => return None,
    };
    let Some((va, next)) = found.filter(|(va, _)| va.addr < self.end) else {
      return self.finish();
    };
    let (op, last) = match self.kind {
      SmKind::Map => split_for_map(&va, &self.req, self.end),
      SmKind::Unmap => (split_for_unmap(&va, self.req.addr, self.end), false),
    };
    self.state = if last { State::Tail } else { State::Walk(next) };
    Some(op)
  }

  fn finish(&mut self) -> Option<Op> {
    self.state = State::Done;
    match self.kind {
      SmKind::Map => Some(Op::Map(self.req)),
      SmKind::Unmap => None,
    }
  }
}

/// The step for one mapping met by a map request, and whether the walk ends
/// with it. `keep` holds when the old mapping is the same object at an offset
/// consistent with the request, so it continues the new mapping physically.
pub(super) fn split_for_map(va: &Va, req: &OpMap, req_end: u64) -> (Op, bool) {
  let Va {
    addr,
    range,
    obj,
    offset,
    ..
  } = *va;
  let end = va.end();
  let same_obj = obj != NO_OBJ && obj == req.obj;
  let piece = |addr, range, offset| OpMap {
    addr,
    range,
    obj,
    offset,
  };
  // A mapping that starts at or after the request and outlives it keeps its
  // tail: the walk ends there.
  let tail = |keep: bool, next: OpMap| {
    let unmap = OpUnmap { va: *va, keep };
    (
      Op::Remap(OpRemap {
        prev: None,
        next: Some(next),
        unmap,
      }),
      true,
    )
  };
  let unmap = |keep: bool| (Op::Unmap(OpUnmap { va: *va, keep }), end == req_end);
  if addr == req.addr {
    let keep = same_obj && offset == req.offset;
    if end > req_end {
      return tail(
        keep,
        piece(
          req_end,
          range.wrapping_sub(req.range),
          offset.wrapping_add(req.range),
        ),
      );
    }
    unmap(keep)
  } else if addr < req.addr {
    let head = req.addr - addr;
    let keep = same_obj && offset.wrapping_add(head) == req.offset;
    let prev = Some(piece(addr, head, offset));
    let next = (end > req_end).then(|| {
      piece(
        req_end,
        end - req_end,
        offset.wrapping_add(head).wrapping_add(req.range),
      )
    });
    let unmap = OpUnmap { va: *va, keep };
    (Op::Remap(OpRemap { prev, next, unmap }), end >= req_end)
  } else {
    let keep = same_obj && offset == req.offset.wrapping_add(addr - req.addr);
    if end > req_end {
      return tail(
        keep,
        piece(req_end, end - req_end, offset.wrapping_add(req_end - addr)),
      );
    }
    unmap(keep)
  }
}

/// The step for one mapping met by an unmap request; `keep` is always false.
pub(super) fn split_for_unmap(va: &Va, req_addr: u64, req_end: u64) -> Op {
  let end = va.end();
  let prev = (va.addr < req_addr).then(|| OpMap {
    addr: va.addr,
    range: req_addr - va.addr,
    obj: va.obj,
    offset: va.offset,
  });
  let next = (end > req_end).then(|| OpMap {
    addr: req_end,
    range: end - req_end,
    obj: va.obj,
    offset: va.offset.wrapping_add(req_end.wrapping_sub(va.addr)),
  });
  let unmap = OpUnmap { va: *va, keep: false };
  if prev.is_some() || next.is_some() {
    Op::Remap(OpRemap { prev, next, unmap })
  } else {
    Op::Unmap(unmap)
  }
}

impl GpuVm {
  /// Starts `sm_map` for a new mapping. EINVAL when the range is not valid.
  pub fn sm_map(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Result<SmCursor> {
    self.cursor(
      SmKind::Map,
      OpMap {
        addr,
        range,
        obj,
        offset,
      },
    )
  }

  /// Starts `sm_unmap`. EINVAL when the range is not valid.
  pub fn sm_unmap(&mut self, addr: u64, range: u64) -> Result<SmCursor> {
    self.cursor(SmKind::Unmap, OpMap::bare(addr, range))
  }

  fn cursor(&mut self, kind: SmKind, req: OpMap) -> Result<SmCursor> {
    self.alive()?;
    // A walk inserts at most two pieces per remap (two remaps) and the map.
    self.seq_room(5)?;
    self.check_range(req.addr, req.range)?;
    Ok(SmCursor {
      kind,
      req,
      end: req.addr.wrapping_add(req.range),
      state: State::Start,
    })
  }

  /// The whole step list of a cursor, without changing the VA space
  /// (`*_ops_create`).
  pub fn collect_ops(&self, mut cursor: SmCursor) -> Vec<Op> {
    std::iter::from_fn(|| cursor.step(self)).collect()
  }

  pub fn sm_map_ops(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Result<Vec<Op>> {
    let cursor = self.sm_map(addr, range, obj, offset)?;
    Ok(self.collect_ops(cursor))
  }

  pub fn sm_unmap_ops(&mut self, addr: u64, range: u64) -> Result<Vec<Op>> {
    let cursor = self.sm_unmap(addr, range)?;
    Ok(self.collect_ops(cursor))
  }

  /// `prefetch_ops_create`: one PREFETCH per node in the range, in address
  /// order. As in the kernel the range is not validated and the kernel node is
  /// not skipped.
  pub fn prefetch_ops(&self, addr: u64, range: u64) -> Result<Vec<Op>> {
    self.alive()?;
    Ok(
      self
        .iter_range(addr, addr.wrapping_add(range))
        .map(Op::Prefetch)
        .collect(),
    )
  }

  /// `gem_unmap_ops_create`: one UNMAP per mapping linked to `obj`, in link
  /// order.
  pub fn gem_unmap_ops(&mut self, obj: ObjId) -> Result<Vec<Op>> {
    self.alive()?;
    Ok(
      self
        .gem_vas(obj)
        .into_iter()
        .map(|va| Op::Unmap(OpUnmap { va, keep: false }))
        .collect(),
    )
  }
}
