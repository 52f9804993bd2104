//! The split/merge walk applied where it stands, for callers that apply the
//! steps as they come: the workload's request loop (`vmbind`, traced or
//! not) and `bind`/`unbind`.
//!
//! It makes the changes that running an `SmCursor` and applying each of its
//! steps (`apply_walk_step`) makes, in the same order, with the same
//! insertion numbers, links and store layout. The cursor hands out each
//! mapping as a `Va` copy and each step as an `Op`, and the apply then finds
//! the mapping again by key; here the walk reads the record at its store
//! position, changes it there and goes on from where the change left it.
//! A caller that writes a trace is shown each step before it is made, built
//! by the cursor's own functions (`split_for_map`, `split_for_unmap`).
//!
//! It serves the common case alone: a VA space with no page table, a
//! non-empty request, no zero-length mapping in the tree and, from era 1 on,
//! vm_bo ids left for any the request could make (so that no step can
//! fail, as none can in the seed's era).
//! Then no two mappings share an address and the one after a mapping starts
//! at or past its end, so the mapping a walk meets next is always the one
//! after the last record it wrote, and a remap's pieces always fit. Anything
//! else takes the cursor (`walk/tests.rs` checks that both agree, in every
//! era).

use super::apply::OpCounts;
use super::sm::{split_for_map, split_for_unmap, SmKind};
use super::store::Pos;
use super::{GpuVm, ObjId, Op, OpMap, NO_OBJ};
use crate::errno::Result;

/// How a walk links the mappings it makes and unlinks those it takes apart:
/// not at all (the workload's loop), on the objects' lists alone (the
/// seed's era), or through the hub, the unlinks deferred in immediate mode
/// (`apply_hub_step`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum WalkLinks {
  No,
  Seed,
  Hub { deferred: bool },
}

/// A request makes at most three vm_bos: one for the map's object and one
/// for each of the two mappings it splits, when they were not linked.
const VM_BOS_A_REQUEST: u64 = 3;

/// What a walk's steps were, counted as a step-by-step run counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WalkTally {
  pub counts: OpCounts,
  /// Remap and unmap steps with keep set.
  pub keeps: u64,
  /// Bytes the steps mapped less the bytes they unmapped (wrapping).
  pub mapped_bytes: u64,
}

impl GpuVm {
  /// Whether `walk_request` can serve a request of `range` bytes now.
  #[inline]
  pub(crate) fn walks_in_place(&self, range: u64) -> bool {
    range != 0
      && self.empty_nodes == 0
      && self.pt.is_none()
      && self
        .hub
        .as_deref()
        .is_none_or(|hub| hub.ids_left() >= VM_BOS_A_REQUEST)
  }

  /// Checks and applies a map (`SmKind::Map`) or unmap request as
  /// `sm_map`/`sm_unmap` and a run of the cursor would, linking the new
  /// mappings to their objects when `link` holds. The caller has checked
  /// `walks_in_place(req.range)`.
  #[inline]
  pub(crate) fn walk_request(&mut self, kind: SmKind, req: OpMap, link: bool) -> Result<WalkTally> {
    self.walk_request_steps(kind, req, link, |_| {})
  }

  /// `walk_request`, handing `step` each step before it is made, as the
  /// cursor would hand it out (what a trace writes). With a `step` that does
  /// nothing, the steps are not built at all.
  #[inline]
  pub(crate) fn walk_request_steps(
    &mut self,
    kind: SmKind,
    req: OpMap,
    link: bool,
    step: impl FnMut(&Op),
  ) -> Result<WalkTally> {
    debug_assert!(self.walks_in_place(req.range));
    // The cursor's checks, with its errors (`sm_map`, `sm_unmap`).
    self.alive()?;
    self.seq_room(5)?;
    self.check_range(req.addr, req.range)?;
    if link && self.hub.is_some() {
      let deferred = self.steps_defer();
      let tally = self.walk_checked::<true>(kind, req, WalkLinks::Hub { deferred }, step);
      // As `hub_run`: the request may have dropped the VM's last reference.
      self.settle();
      return Ok(tally);
    }
    let links = if link { WalkLinks::Seed } else { WalkLinks::No };
    Ok(self.walk_checked::<false>(kind, req, links, step))
  }

  /// The walk; `HUB` is whether `links` can be `WalkLinks::Hub`. A walk of
  /// its own for the hub: with its branches in the seed's walk, that walk
  /// ran 70 instructions a request more (cachegrind, the whole run).
  fn walk_checked<const HUB: bool>(
    &mut self,
    kind: SmKind,
    req: OpMap,
    links: WalkLinks,
    mut step: impl FnMut(&Op),
  ) -> WalkTally {
    let mut tally = WalkTally::default();
    // The range is valid: no overflow, and clear of the kernel node, which
    // the walk therefore never meets.
    let end = req.addr + req.range;
    let mut p = self.first_met(req.addr);
    // The record the new mapping will precede, when known (see `insert_at`).
    let mut follower = Pos::NIL;
    while !p.is_nil() {
      let store = &self.store;
      let addr = store.addr(p);
      if addr >= end {
        follower = p;
        break;
      }
      let va = store.va(p);
      step(&match kind {
        SmKind::Map => split_for_map(&va, &req, end).0,
        SmKind::Unmap => split_for_unmap(&va, req.addr, end),
      });
      let range = store.range(p);
      let va_end = addr + range;
      let rec = store.rec(p);
      let (obj, offset) = (rec.obj, rec.offset);
      // The old mapping continues the new one physically: same object, and
      // the same offset at the same address.
      let keep = kind == SmKind::Map
        && obj != NO_OBJ
        && obj == req.obj
        && offset.wrapping_sub(addr) == req.offset.wrapping_sub(req.addr);
      tally.keeps += u64::from(keep);
      tally.mapped_bytes = tally.mapped_bytes.wrapping_sub(range);
      // A map request's walk ends with the mapping that reaches its end; an
      // unmap request's would go on to the next one, which starts past it.
      let last = va_end >= end;
      let (head, tail) = (addr < req.addr, va_end > end);
      if !head && !tail {
        tally.counts.unmap += 1;
        if kind == SmKind::Map && self.final_in_leaf(p, va_end, end) {
          // The new mapping takes this one's place, as removing it and then
          // inserting the new one would put it: one write, no shifts.
          self.walk_unlink::<HUB>(p, links);
          step(&Op::Map(req));
          let va = self.new_va(req.addr, req.range, req.obj, req.offset);
          self.store.replace(p, va);
          self.walk_link::<HUB>(p, links);
          tally.counts.map += 1;
          tally.mapped_bytes = tally.mapped_bytes.wrapping_add(req.range);
          return tally;
        }
        self.walk_unlink::<HUB>(p, links);
        let next = self.store.remove_then_next(p);
        if last {
          follower = next;
          break;
        }
        p = next;
        continue;
      }
      tally.counts.remap += 1;
      let held = self.walk_hold::<HUB>(p, links);
      let tail_offset = offset.wrapping_add(end - addr);
      let q = if head {
        self.replace_at::<HUB>(p, addr, req.addr - addr, obj, offset, links)
      } else {
        self.replace_at::<HUB>(p, end, va_end - end, obj, tail_offset, links)
      };
      tally.mapped_bytes = tally
        .mapped_bytes
        .wrapping_add(if head { req.addr - addr } else { va_end - end });
      if head && tail {
        follower = self.insert_at::<HUB>(end, va_end - end, obj, tail_offset, links, Pos::NIL);
        tally.mapped_bytes = tally.mapped_bytes.wrapping_add(va_end - end);
      }
      self.walk_release::<HUB>(held, links);
      if head && tail {
        break;
      }
      if tail {
        follower = q;
      }
      if last {
        break;
      }
      p = self.store.next(q);
    }
    if kind == SmKind::Map {
      step(&Op::Map(req));
      tally.counts.map += 1;
      tally.mapped_bytes = tally.mapped_bytes.wrapping_add(req.range);
      self.insert_at::<HUB>(req.addr, req.range, req.obj, req.offset, links, follower);
    }
    tally
  }

  #[inline]
  fn walk_unlink<const HUB: bool>(&mut self, p: Pos, links: WalkLinks) {
    match links {
      WalkLinks::Hub { deferred } if HUB => self.hub_unlink_at(p, deferred),
      _ => self.unlink_at(p),
    }
  }

  #[inline]
  fn walk_link<const HUB: bool>(&mut self, p: Pos, links: WalkLinks) {
    match links {
      WalkLinks::No => {}
      WalkLinks::Hub { .. } if HUB => self.hub_link_at(p),
      _ => self.link_at(p),
    }
  }

  /// Through the hub, a remap's pieces keep the vm_bo they share with the
  /// old mapping at `p`: a reference held from before its unlink
  /// (`walk_hold`) to after they link (`walk_release`), as `apply_hub_step`.
  #[inline]
  fn walk_hold<const HUB: bool>(&mut self, p: Pos, links: WalkLinks) -> Option<u32> {
    match links {
      WalkLinks::Hub { .. } if HUB => self.hub_hold(p),
      _ => None,
    }
  }

  #[inline]
  fn walk_release<const HUB: bool>(&mut self, held: Option<u32>, links: WalkLinks) {
    match (held, links) {
      (Some(id), WalkLinks::Hub { deferred }) if HUB => self.hub_release(id, deferred),
      _ => {}
    }
  }

  /// The first mapping overlapping `[addr, ...)` or starting in it, as
  /// `first_overlap` finds it when no mapping is empty: the one before the
  /// first at or after `addr` if it reaches past `addr`, else that one (the
  /// walk checks that it starts below the request's end).
  // Always inlined, as `Store::insert_before` and `remove_then_next` are:
  // with the walk built twice (with steps shown and without), the inliner
  // kept them as calls, 50 instructions a request more in the untraced loop.
  #[inline(always)]
  fn first_met(&self, addr: u64) -> Pos {
    let store = &self.store;
    let at = store.lower_bound((addr, 0));
    let before = if at.is_nil() { store.last() } else { store.prev(at) };
    if !before.is_nil() && store.addr(before) + store.range(before) > addr {
      return before;
    }
    at
  }

  /// Whether the record at `p`, which the walk unmaps, is the last one it
  /// meets and lies inside its leaf such that the new mapping would go
  /// where it was (`Store::replaceable`).
  #[inline]
  fn final_in_leaf(&self, p: Pos, va_end: u64, end: u64) -> bool {
    let store = &self.store;
    store.replaceable(p) && (va_end == end || store.addr(store.next(p)) >= end)
  }

  /// `replace_with_piece` for the record at `p`: it becomes the piece
  /// `[addr, +range)`, in place when key order allows; the piece's position.
  #[inline]
  fn replace_at<const HUB: bool>(
    &mut self,
    p: Pos,
    addr: u64,
    range: u64,
    obj: ObjId,
    offset: u64,
    links: WalkLinks,
  ) -> Pos {
    if !self.store.rekey(p, addr, self.next_seq) {
      self.walk_unlink::<HUB>(p, links);
      self.store.remove(p);
      return self.insert_at::<HUB>(addr, range, obj, offset, links, Pos::NIL);
    }
    self.next_seq += 1;
    self.walk_unlink::<HUB>(p, links);
    self.store.set_range(p, range);
    let rec = self.store.rec_mut(p);
    rec.obj = obj;
    rec.offset = offset;
    // A piece starts with no flags, as a new mapping.
    rec.set_all_flags(0);
    self.walk_link::<HUB>(p, links);
    p
  }

  /// `insert_unchecked` for a non-empty mapping, linked as `links` says;
  /// its position. `follower` is the record it will precede when the walk
  /// knows it (NIL if not): the store can then skip its search.
  #[inline]
  fn insert_at<const HUB: bool>(
    &mut self,
    addr: u64,
    range: u64,
    obj: ObjId,
    offset: u64,
    links: WalkLinks,
    follower: Pos,
  ) -> Pos {
    let va = self.new_va(addr, range, obj, offset);
    let p = self.store.insert_before(follower, va);
    self.walk_link::<HUB>(p, links);
    p
  }
}

#[cfg(test)]
mod tests;
