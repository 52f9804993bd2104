//! Eviction hooks (`ttm_device_funcs.eviction_valuable` / `evict_flags`) and
//! LRU priorities. A victim is skipped when the declarative policy protects
//! it (by priority or tag) or when the user's callback refused it: the
//! public API asks the callback once per LRU buffer before a validate and
//! hands the refusals over in one batch (`set_eviction_veto`).

use super::lru::MAX_PRIORITY;
use super::pressure::EvictionPolicy;
use super::{Device, Place};
use crate::errno::{fail, Errno, Result};

impl Device {
  /// The buffer's LRU priority (0..3); a buffer on an LRU moves to the tail
  /// of its new priority's list, as the next `ttm_bo_move_to_lru_tail` would.
  pub fn set_priority(&mut self, id: u32, priority: u32) -> Result<()> {
    if priority as usize >= MAX_PRIORITY {
      return fail(Errno::EINVAL, format!("a priority is 0..3, got {priority}"));
    }
    let o = self.object_mut(id)?;
    if o.pressure.priority as u32 == priority {
      return Ok(());
    }
    o.pressure.priority = priority as u8;
    if o.lru.is_some() {
      self.lru_touch(id);
    }
    Ok(())
  }

  pub fn set_tags(&mut self, id: u32, tags: u32) -> Result<()> {
    self.object_mut(id)?.pressure.tags = tags;
    Ok(())
  }

  pub fn set_eviction_policy(&mut self, policy: EvictionPolicy) -> Result<()> {
    if policy.protect_from_priority as usize > MAX_PRIORITY {
      return fail(
        Errno::EINVAL,
        format!(
          "protectFromPriority is 0..4, got {}",
          policy.protect_from_priority
        ),
      );
    }
    self.pressure.policy = policy;
    Ok(())
  }

  pub fn eviction_policy(&self) -> EvictionPolicy {
    self.pressure.policy
  }

  /// The buffers a user's `eviction_valuable` refused; replaces the last set.
  pub fn set_eviction_veto(&mut self, ids: &[u32]) {
    self.pressure.veto.clear();
    self.pressure.veto.extend(ids.iter().copied());
  }

  /// `eviction_valuable`: whether the walk may take `victim`.
  pub(crate) fn eviction_valuable(&self, victim: u32) -> bool {
    let p = self.pressure.policy;
    // The common case, no policy at all, costs no object lookup.
    if p == EvictionPolicy::default() && self.pressure.veto.is_empty() {
      return true;
    }
    let Ok(o) = self.object(victim) else {
      return false;
    };
    o.pressure.priority < p.protect_from_priority
      && o.pressure.tags & p.protect_tags == 0
      && !self.pressure.veto.contains(&victim)
  }

  /// The answers of a user's `evict_flags`, one eviction placement per
  /// buffer, in one call; all checked before any is set.
  pub fn set_evict_placements(&mut self, batch: Vec<(u32, Vec<Place>)>) -> Result<()> {
    for (id, _) in &batch {
      self.object(*id)?;
    }
    for (id, p) in batch {
      self.object_mut(id)?.evict_placement = Some(p);
    }
    Ok(())
  }
}
