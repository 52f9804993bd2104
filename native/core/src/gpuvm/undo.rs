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
//! Xe gets there by unwinding its op list in reverse; here the state before
//! the array is copied and put back, which leaves the same VA space. The
//! copy is taken only when a request could fail after the checks: with an
//! injected failure in range, when the VA space is close to running out
//! of insertion numbers or vm_bo ids, or when it is a drm_gpuvm whose
//! creator let go (torn down with its last mapping mid-array). Otherwise a checked array cannot fail
//! and runs as the sequential `bind_batch` would, at its cost.
//!
//! Warnings recorded while an array runs stay recorded when it is undone:
//! they are what the kernel WARNs about on the way, undo or not.

use super::apply::OpCounts;
use super::store::NIL;
use super::{GpuVm, ObjId, Va, KERNEL_SEQ};
use crate::errno::{fail, Errno, Error, Result};

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
    let saved = (injected.is_some() || !self.array_cannot_fail(n)).then(|| self.clone());
    let mut total = OpCounts::default();
    for (index, r) in reqs.iter().enumerate() {
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
              self.restore(before);
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

  /// True when no request of a checked array of `n` can fail: insertion
  /// numbers and vm_bo ids (at most one new vm_bo a request) suffice, and
  /// the VM cannot be torn down on the way (a drm_gpuvm whose creator let
  /// go goes with its last mapping, and the next request finds it gone).
  fn array_cannot_fail(&self, n: usize) -> bool {
    // Arrays are far shorter than 2^32 requests; the cap keeps the sum in range.
    let n = (n as u64).min(1 << 32);
    let seqs = self.seq_room(SEQS_PER_REQUEST * n).is_ok();
    seqs
      && self
        .hub
        .as_deref()
        .is_none_or(|hub| hub.ids_left() >= n && hub.held_by_creator())
  }

  /// Puts back the copy taken before an array, keeping the warnings
  /// recorded since (see the module's header).
  fn restore(&mut self, before: GpuVm) {
    let warnings = std::mem::take(&mut self.warnings);
    *self = before;
    self.warnings = warnings;
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
