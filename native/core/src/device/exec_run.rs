//! drm_exec's per-object steps over a run of objects in one call: what a
//! driver's exec loop does to each object it locks (lock through the acquire
//! context, take a reference, reserve fence slots), fences (add one fence)
//! and unlocks (unlock, drop the reference). Each run does only the steps
//! whose outcome is the plain one, exactly as the single calls would do
//! them, and stops at the first element that is not: the caller does that
//! element with the single calls (which give its contention, error or
//! violation), then starts a new run after it. So a run never fails and
//! never records a violation before its last element.

use super::{slot, Device, Usage};
use crate::errno::Result;
use crate::errno::{fail, Errno};

/// The element `i` of both id slices, when the slices have it.
fn pair(objs: &[u32], resvs: &[u32], i: usize) -> Option<(u32, u32)> {
  Some((*objs.get(i)?, *resvs.get(i)?))
}

impl Device {
  /// `drm_exec_lock_obj` (then `dma_resv_reserve_fences(reserve)` when given)
  /// for `objs[i]` with reservation `resvs[i]`, from the first on, through
  /// `ctx` of `thread`. Stops before an element whose lock would not be a
  /// plain acquire of a free lock that records nothing: the context is not
  /// live, done or contending (a lock after `ww_acquire_done` or -EDEADLK is
  /// checked), the reservation is held (contention, EALREADY, a wait) or
  /// unknown, or the object is unknown, freed or at the most references.
  /// Returns how many elements it did.
  pub fn exec_lock_run(
    &mut self,
    thread: u32,
    ctx: u32,
    objs: &[u32],
    resvs: &[u32],
    reserve: Option<u32>,
  ) -> usize {
    let Ok(ci) = slot(ctx, self.ctxs.len(), "acquire context") else {
      return 0;
    };
    let mut done = 0;
    while let Some((obj, resv)) = pair(objs, resvs, done) {
      let c = &self.ctxs[ci];
      if c.fini || c.thread != thread || c.done || c.contending.is_some() {
        break;
      }
      if !matches!(self.resv(resv), Ok(r) if r.holder.is_none()) {
        break;
      }
      if !matches!(self.objects.get(obj), Some(o) if !o.freed && o.refcount < u32::MAX) {
        break;
      }
      // The single calls, whose every check passes now: no error, no violation.
      let steps = self
        .lock(thread, resv, Some(ctx), super::LockMode::Normal)
        .and_then(|_| self.get(obj))
        .and_then(|_| reserve.map_or(Ok(()), |n| self.reserve_fences(thread, resv, n)));
      debug_assert!(steps.is_ok(), "a checked exec lock step failed");
      done += 1;
    }
    done
  }

  /// `dma_resv_add_fence(resvs[i], fence, usages[i])` from the first on.
  /// Stops before an element that fails (it changes nothing; the single call
  /// gives its error) and after one that records a violation. Returns how
  /// many elements it did.
  pub fn add_fence_run(&mut self, thread: u32, resvs: &[u32], usages: &[u32], fence: u32) -> usize {
    let mut done = 0;
    while let (Some(&resv), Some(&u)) = (resvs.get(done), usages.get(done)) {
      let Ok(usage) = Usage::from_u32(u) else {
        break;
      };
      let before = self.violations.len();
      if self.add_fence(thread, resv, fence, usage).is_err() {
        break;
      }
      done += 1;
      if self.violations.len() != before {
        break;
      }
    }
    done
  }

  /// `dma_resv_unlock(resvs[i])` then `drm_gem_object_put(objs[i])` from the
  /// first on. Stops before an element whose reservation `thread` does not
  /// hold or whose object is unknown, freed or down to its last reference
  /// (the caller counts what still maps it). Returns how many it did.
  pub fn exec_unlock_run(&mut self, thread: u32, objs: &[u32], resvs: &[u32]) -> usize {
    let mut done = 0;
    while let Some((obj, resv)) = pair(objs, resvs, done) {
      if !self.held_by(resv, thread) {
        break;
      }
      if !matches!(self.objects.get(obj), Some(o) if !o.freed && o.refcount > 1) {
        break;
      }
      let steps = self.unlock(thread, resv).and_then(|_| self.put(obj, 0));
      debug_assert!(steps.is_ok(), "a checked exec unlock step failed");
      done += 1;
    }
    done
  }

  /// The slices of a run call: both the same length.
  pub fn run_lengths(objs: &[u32], resvs: &[u32]) -> Result<()> {
    if objs.len() != resvs.len() {
      return fail(
        Errno::EINVAL,
        format!(
          "a run needs as many objects as reservations ({} and {})",
          objs.len(),
          resvs.len()
        ),
      );
    }
    Ok(())
  }
}

#[cfg(test)]
mod tests;
