//! System memory pressure: when a bounded SYSTEM domain is full and a
//! shrinker is set (`configure_swap`), buffers leave it, as the i915 / msm /
//! panfrost shrinkers and `ttm_device_swapout` do: purgeable buffers
//! (madvise DONTNEED) are dropped first, contents lost; then the buffers at
//! the head of the SYSTEM LRUs (priority 0 first) are swapped out, contents
//! kept. Pinned buffers are off the LRUs; locked and vmapped ones are
//! skipped. A swapped buffer comes back (a move) on its next validate.

use super::pressure::SwapTotals;
use super::{Device, Domain, LockMode, LockResult};
use crate::errno::{fail, Errno, Result};

/// The thread the shrinker trylocks with: no simulated thread has it.
const SHRINKER: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Goal {
  /// Until `size` bytes fit in SYSTEM.
  Fit { size: u64, topdown: bool },
  /// Until this many bytes left SYSTEM.
  Bytes(u64),
}

impl Device {
  /// Sets the shrinker: `Some(capacity)` bytes of swap (u64::MAX: unbounded;
  /// 0: purge only), `None` none (a full SYSTEM is ENOMEM).
  pub fn configure_swap(&mut self, capacity: Option<u64>) -> Result<()> {
    if let Some(c) = capacity {
      if c < self.pressure.totals.swap_used {
        return fail(
          Errno::EINVAL,
          format!(
            "swap capacity {c} is below the {} bytes in swap",
            self.pressure.totals.swap_used
          ),
        );
      }
    }
    self.pressure.swap = capacity;
    Ok(())
  }

  pub fn swap_capacity(&self) -> Option<u64> {
    self.pressure.swap
  }

  /// madvise(WILLNEED / DONTNEED): a purgeable buffer is dropped first under pressure.
  pub fn set_purgeable(&mut self, id: u32, on: bool) -> Result<()> {
    self.object_mut(id)?.pressure.purgeable = on;
    Ok(())
  }

  pub fn swap_totals(&self) -> SwapTotals {
    self.pressure.totals
  }

  /// `ttm_device_swapout`: frees at least `bytes` of SYSTEM if it can
  /// (purging, then swapping out); returns the bytes freed. EINVAL without a shrinker.
  pub fn swapout(&mut self, bytes: u64) -> Result<u64> {
    if self.pressure.swap.is_none() {
      return fail(Errno::EINVAL, "the device has no shrinker (configure swap first)");
    }
    let before = self.domain_stats(Domain::System)?.used;
    if bytes > 0 {
      self.shrink(Goal::Bytes(bytes))?;
    }
    Ok(before - self.domain_stats(Domain::System)?.used)
  }

  /// A SYSTEM range of `size` bytes after shrinking, or `None` when the
  /// shrinker is off or could not make room.
  pub(crate) fn swap_alloc(&mut self, size: u64, topdown: bool) -> Result<Option<Option<u64>>> {
    if self.pressure.swap.is_none() {
      return Ok(None);
    }
    self.shrink(Goal::Fit { size, topdown })
  }

  fn shrink(&mut self, goal: Goal) -> Result<Option<Option<u64>>> {
    let mut freed = 0u64;
    for purging in [true, false] {
      let last = self.lru_seq;
      let mut cur = Default::default();
      while let Some(v) = self.lru_next(Domain::System, &mut cur, last) {
        let o = self.object(v)?;
        let (size, resv) = (o.size, o.resv);
        if o.node.is_none() || o.vmap_count > 0 || o.pressure.purgeable != purging {
          continue;
        }
        let cap = self.pressure.swap.unwrap_or(0);
        if !purging && cap.saturating_sub(self.pressure.totals.swap_used) < size {
          continue;
        }
        if self.lock(SHRINKER, resv, None, LockMode::Try)? != LockResult::Ok {
          continue;
        }
        let r = self.shrink_one(v, purging);
        self.unlock_resv(SHRINKER, resv, false)?;
        r?;
        freed = freed.saturating_add(size);
        match goal {
          Goal::Bytes(n) if freed >= n => return Ok(Some(None)),
          Goal::Fit { size, topdown } => {
            let a = self.domain_alloc(Domain::System, size, topdown);
            if !matches!(&a, Err(e) if e.errno == Errno::ENOSPC) {
              return a.map(Some);
            }
          }
          Goal::Bytes(_) => {}
        }
      }
    }
    Ok(None)
  }

  /// Purges or swaps out one buffer of SYSTEM: no range, off the LRU, its
  /// mappings stale, its VA spaces told (a move to nowhere).
  fn shrink_one(&mut self, id: u32, purging: bool) -> Result<()> {
    let o = self.object(id)?;
    let (size, node) = (o.size, o.node);
    self.lru_remove(id);
    self.domain_free(Domain::System, node);
    let o = self.object_mut(id)?;
    o.node = None;
    if purging {
      o.purged = true;
      o.populated = false;
      o.pressure.content_lost = true;
    } else {
      o.pressure.swapped = true;
    }
    self.relocate(id, Domain::System)?;
    self.tt_unpopulate(id);
    let t = &mut self.pressure.totals;
    if purging {
      t.purges += 1;
      t.bytes_purged = t.bytes_purged.saturating_add(size);
    } else {
      t.swapouts += 1;
      t.bytes_swapped_out = t.bytes_swapped_out.saturating_add(size);
      t.swap_used += size;
    }
    self.log_move(id, Domain::System, None, true);
    Ok(())
  }

  /// A swapped buffer got a range again: the swap-in is counted.
  pub(crate) fn swap_in(&mut self, id: u32) {
    // Nothing is swapped while swap is empty (swapped buffers are never empty).
    if self.pressure.totals.swap_used == 0 {
      return;
    }
    let Some(o) = self.objects.get_mut(id) else {
      return;
    };
    if !o.pressure.swapped {
      return;
    }
    o.pressure.swapped = false;
    let t = &mut self.pressure.totals;
    t.swapins += 1;
    t.bytes_swapped_in = t.bytes_swapped_in.saturating_add(o.size);
    t.swap_used -= o.size;
  }

  /// A swapped buffer purged or freed: its swap space is released.
  pub(crate) fn swap_forget(&mut self, id: u32) {
    if self.pressure.totals.swap_used == 0 {
      return;
    }
    let Some(o) = self.objects.get_mut(id) else {
      return;
    };
    if o.pressure.swapped {
      o.pressure.swapped = false;
      self.pressure.totals.swap_used -= o.size;
    }
  }
}
