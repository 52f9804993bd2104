//! Atomic bind arrays (Xe's `DRM_XE_VM_BIND` with an array of binds) and
//! the put-back of one removed mapping that the public `undo` helper uses.
//!
//! An array runs in two phases, as Xe's ioctl does: every request is
//! checked first (the checks `bind`/`unbind` make before they change
//! anything), so a bad request anywhere leaves the VA space untouched; then
//! the requests are applied in order. When one fails after the checks, or
//! the caller's injected failure index is reached (Xe's error-injection
//! test hook), the VA space goes back to exactly what it was: the same
//! mappings with the same seq and flags, the same link order, the same
//! vm_bos (ids, refcounts, evicted flags, list places), the same refcount.
//! Xe gets there by unwinding its op list in reverse; here what the array
//! can touch is saved before it runs and put back, which leaves the same VA
//! space. What it can touch is known in advance: a walk removes or splits
//! only mappings that overlap its request, and its new mappings lie inside
//! the request or inside a mapping it splits; so every change stays inside
//! the hull of each request and the mappings it overlaps at the start. The
//! save is those mappings (records with their seq, flags and link), the
//! object lists (nothing but a clock until they are first read), the hub
//! (vm_bos and lists; small beside the mappings), the page table if the VA
//! space keeps one (Xe writes page tables only once an array can no longer
//! fail, so an undone array leaves them, and their counters, untouched) and
//! two counters. The
//! unwind takes every mapping inside the hulls out and puts the saved ones
//! back. Where that reasoning does not hold (zero-length requests or
//! mappings, whose overlaps are the interval tree's special cases; a
//! drm_gpuvm whose creator let go, torn down mid-array; stamps running out,
//! which rewrites every record's link) the whole VA space is copied instead.
//!
//! The save is made only when a request could fail after the checks: with
//! an injected failure in range, when the VA space is close to running out
//! of insertion numbers or vm_bo ids, or for a drm_gpuvm whose creator let
//! go. Otherwise a checked array cannot fail, nothing is saved, and it runs
//! as the sequential `bind_batch` would, at its cost.
//!
//! Warnings recorded while an array runs stay recorded when it is undone:
//! they are what the kernel WARNs about on the way, undo or not.

use super::apply::OpCounts;
use super::hub::Hub;
use super::obj_lists::ObjLists;
use super::store::NIL;
use super::{GpuVm, ObjId, Va, VaKey, KERNEL_SEQ};
use crate::errno::{fail, Errno, Error, Result};
use crate::pagetable::PageTable;

/// The errno of an injected failure: Xe's bind error injection fails the
/// op with -ENOSPC, which is what IGT's bind-array error-inject test expects.
pub const INJECTED_ERRNO: Errno = Errno::ENOSPC;

/// One request of an array: a bind (`sm_map`) or an unbind (`sm_unmap`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayRequest {
  pub unmap: bool,
  pub addr: u64,
  pub range: u64,
  /// The object of a bind; 0 (`NO_OBJ`) for a sparse one, ignored for an unbind.
  pub obj: ObjId,
  pub offset: u64,
}

/// Why an array failed: which request, the error, and whether requests had
/// been applied and were undone (false when the checks refused it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayFailure {
  pub index: usize,
  pub error: Error,
  pub unwound: bool,
}

/// Insertion numbers a walk may use up (as `sm_map` checks: two remaps of
/// two pieces and the map).
const SEQS_PER_REQUEST: u64 = 5;

/// What an array saves before it runs, to put back on a failure.
enum Saved {
  /// The whole VA space (see the module's header for when).
  Whole(Box<GpuVm>),
  Part(Part),
}

/// The part of the VA space an array can touch.
struct Part {
  /// The hulls of the requests and the mappings they overlap, merged, in address order.
  spans: Vec<(u64, u64)>,
  /// The mappings inside them, with their link (stamp or list entry).
  vas: Vec<(Va, u32)>,
  next_seq: u64,
  empty_nodes: usize,
  obj_lists: ObjLists,
  hub: Option<Box<Hub>>,
  /// The page table, counters included: an undone array never reached it.
  pt: Option<Box<PageTable>>,
}

impl GpuVm {
  /// Applies `reqs` all or nothing; `fail_at` fails request `fail_at` (if
  /// in range) with `INJECTED_ERRNO` as if its job failed. On success the
  /// VA space is what the sequential `bind` / `unbind` of each request would
  /// leave, and `per(i, counts)` is told each request's steps.
  pub fn bind_array(
    &mut self,
    reqs: &[ArrayRequest],
    fail_at: Option<usize>,
    mut per: impl FnMut(usize, &OpCounts),
  ) -> std::result::Result<OpCounts, ArrayFailure> {
    for (index, r) in reqs.iter().enumerate() {
      self.check_request(r).map_err(|error| ArrayFailure {
        index,
        error,
        unwound: false,
      })?;
    }
    let n = reqs.len();
    let injected = fail_at.filter(|&i| i < n);
    let saved = (injected.is_some() || !self.array_cannot_fail(reqs)).then(|| self.save(reqs));
    let mut total = OpCounts::default();
    let addr_of = |k: usize| reqs.get(k).map_or(0, |r| r.addr);
    for (index, r) in reqs.iter().enumerate() {
      self.look_ahead(addr_of(index + 1), addr_of(index + 2));
      let done = if injected == Some(index) {
        fail(
          INJECTED_ERRNO,
          format!("injected failure of request {index} (bind error injection)"),
        )
      } else if r.unmap {
        self.unbind(r.addr, r.range)
      } else {
        self.bind(r.addr, r.range, r.obj, r.offset)
      };
      match done {
        Ok(c) => {
          total.map += c.map;
          total.remap += c.remap;
          total.unmap += c.unmap;
          per(index, &c);
        }
        Err(error) => {
          let unwound = match saved {
            Some(before) => {
              self.unwind(before);
              true
            }
            // Not reached: without a copy no request can fail here.
            None => false,
          };
          return Err(ArrayFailure {
            index,
            error,
            unwound,
          });
        }
      }
    }
    Ok(total)
  }

  /// What `bind` / `unbind` check before they change anything.
  fn check_request(&mut self, r: &ArrayRequest) -> Result<()> {
    self.alive()?;
    self.seq_room(SEQS_PER_REQUEST)?;
    self.check_range(r.addr, r.range)
  }

  /// True when no request of a checked array can fail: insertion numbers
  /// and vm_bo ids (at most one new vm_bo a request) suffice; the VM cannot
  /// be torn down on the way (a drm_gpuvm whose creator let go goes with its
  /// last mapping, and the next request finds it gone); and no zero-length
  /// mapping or request is involved (a walk does not see a zero-length
  /// mapping inside its range, and its insert then fails with EEXIST).
  fn array_cannot_fail(&self, reqs: &[ArrayRequest]) -> bool {
    if self.empty_nodes != 0 || reqs.iter().any(|r| r.range == 0) {
      return false;
    }
    // Arrays are far shorter than 2^32 requests; the cap keeps the sum in range.
    let n = (reqs.len() as u64).min(1 << 32);
    let seqs = self.seq_room(SEQS_PER_REQUEST * n).is_ok();
    seqs
      && self
        .hub
        .as_deref()
        .is_none_or(|hub| hub.ids_left() >= n && hub.held_by_creator())
  }

  /// Saves what the checked requests can touch (see the module's header).
  fn save(&self, reqs: &[ArrayRequest]) -> Saved {
    let n = (reqs.len() as u64).min(1 << 32);
    let partial = self.empty_nodes == 0
      && reqs.iter().all(|r| r.range != 0)
      && self.hub.as_deref().is_none_or(Hub::held_by_creator)
      && self.obj_lists.stamps_left(SEQS_PER_REQUEST * n);
    if !partial {
      return Saved::Whole(Box::new(self.clone()));
    }
    let mut spans: Vec<(u64, u64)> = reqs
      .iter()
      .map(|r| {
        let end = r.addr + r.range;
        let first = self
          .find_first(r.addr, r.range)
          .map_or(r.addr, |va| va.addr.min(r.addr));
        let last = self.find_first(end - 1, 1).map_or(end, |va| va.end().max(end));
        (first, last)
      })
      .collect();
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
      match merged.last_mut() {
        Some(last) if s <= last.1 => last.1 = last.1.max(e),
        _ => merged.push((s, e)),
      }
    }
    let vas = merged
      .iter()
      .flat_map(|&(s, e)| self.iter_range(s, e))
      .filter(|va| va.seq != KERNEL_SEQ)
      .map(|va| {
        let link = self
          .store
          .locate(va.key(), va.slot)
          .map_or(NIL, |p| self.store.rec(p).link);
        (va, link)
      })
      .collect();
    Saved::Part(Part {
      spans: merged,
      vas,
      next_seq: self.next_seq,
      empty_nodes: self.empty_nodes,
      obj_lists: self.obj_lists.clone(),
      hub: self.hub.clone(),
      pt: self.pt.clone(),
    })
  }

  /// Puts back what was saved, keeping the warnings recorded since (see
  /// the module's header): every mapping now inside the spans goes, the
  /// saved ones come back with their seq, flags and links.
  fn unwind(&mut self, saved: Saved) {
    let part = match saved {
      Saved::Whole(before) => {
        let warnings = std::mem::take(&mut self.warnings);
        *self = *before;
        self.warnings = warnings;
        return;
      }
      Saved::Part(part) => part,
    };
    for &(s, e) in &part.spans {
      let keys: Vec<VaKey> = self
        .iter_range(s, e)
        .filter(|va| va.seq != KERNEL_SEQ)
        .map(|va| va.key())
        .collect();
      for key in keys {
        if let Some(p) = self.store.locate(key, NIL) {
          self.store.remove(p);
        }
      }
    }
    for (va, link) in part.vas {
      let p = self.store.insert(Va { slot: NIL, ..va });
      self.store.rec_mut(p).link = link;
    }
    self.next_seq = part.next_seq;
    self.empty_nodes = part.empty_nodes;
    self.obj_lists = part.obj_lists;
    self.hub = part.hub;
    self.pt = part.pt;
  }

  /// Puts a removed mapping back with its own seq and flags, unlinked (the
  /// inverse of an unmap step, for `undo`). EINVAL for a bad range, the
  /// kernel's seq, a seq never handed out or still in use, or flags past 16
  /// bits; EEXIST when it overlaps a mapping.
  pub fn reinsert(&mut self, va: Va) -> Result<Va> {
    self.alive()?;
    self.check_range(va.addr, va.range)?;
    if va.seq == KERNEL_SEQ || va.seq >= self.next_seq {
      return fail(
        Errno::EINVAL,
        format!("seq {} was never handed out to a mapping here", va.seq),
      );
    }
    if self.store.locate(va.key(), NIL).is_some() {
      return fail(
        Errno::EINVAL,
        format!("the mapping {:#x} (#{}) is in the VA space", va.addr, va.seq),
      );
    }
    if va.flags > super::VA_FLAGS_MAX {
      return fail(
        Errno::EINVAL,
        format!("flags must fit in 16 bits, got {:#x}", va.flags),
      );
    }
    if let Some(other) = self.find_first(va.addr, va.range) {
      return fail(
        Errno::EEXIST,
        format!(
          "[{:#x}, +{:#x}) overlaps the mapping [{:#x}, +{:#x})",
          va.addr, va.range, other.addr, other.range
        ),
      );
    }
    self.empty_nodes += usize::from(va.range == 0);
    let p = self.store.insert(Va { slot: NIL, ..va });
    Ok(self.store.va(p))
  }
}

#[cfg(test)]
mod tests;
