//! State of memory pressure and policy (issue 16): per-object priority,
//! tags, bulk membership and swap state; the device's bulk moves, eviction
//! policy and swap accounting. The rules live in lru.rs, bulk.rs, hooks.rs
//! and swap.rs.

use super::lru::{BulkPos, MAX_PRIORITY};
use super::MAX_TYPES;
use rustc_hash::{FxHashMap, FxHashSet};

/// What one object carries for LRU priority, policies and swap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjPressure {
  /// LRU priority 0..3: 0 is walked (evicted) first.
  pub priority: u8,
  /// Policy tags (a bit mask the public API names).
  pub tags: u32,
  /// Its bulk move, 0 for none.
  pub bulk: u32,
  /// The (priority, bulk) its current LRU key belongs to.
  pub(crate) lru_at: (u8, u32),
  /// madvise(DONTNEED): purged first under system memory pressure.
  pub purgeable: bool,
  /// Swapped out: no range anywhere, contents kept in swap.
  pub swapped: bool,
  /// Purged while purgeable: its contents are gone (sticky).
  pub content_lost: bool,
}

/// A bulk move: one range per (domain, priority), the resv it follows.
#[derive(Default)]
pub(crate) struct Bulk {
  /// Per memory type (every type, private ones included) and priority.
  pub pos: [[Option<BulkPos>; MAX_PRIORITY]; MAX_TYPES as usize],
}

/// The declarative side of `eviction_valuable`: victims it refuses are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictionPolicy {
  /// Buffers of this priority or above are never evicted (4: no limit).
  pub protect_from_priority: u8,
  /// Buffers with any of these tags are never evicted.
  pub protect_tags: u32,
}

impl Default for EvictionPolicy {
  fn default() -> Self {
    EvictionPolicy {
      protect_from_priority: MAX_PRIORITY as u8,
      protect_tags: 0,
    }
  }
}

/// Swap and purge counts since the device was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwapTotals {
  pub swapouts: u64,
  pub swapins: u64,
  pub bytes_swapped_out: u64,
  pub bytes_swapped_in: u64,
  /// Purgeable buffers dropped under pressure.
  pub purges: u64,
  pub bytes_purged: u64,
  /// Bytes in swap now.
  pub swap_used: u64,
}

#[derive(Default)]
pub(crate) struct Pressure {
  pub bulks: Vec<Bulk>,
  /// Bulk moves that go to the tail when a resv is unlocked.
  pub resv_bulks: FxHashMap<u32, Vec<u32>>,
  pub policy: EvictionPolicy,
  /// Victims a user's `eviction_valuable` refused (the JavaScript callback path).
  pub veto: FxHashSet<u32>,
  /// Swap capacity; `None`: no shrinker (SYSTEM full is ENOMEM, as before).
  pub swap: Option<u64>,
  pub totals: SwapTotals,
}

impl Pressure {
  pub fn heap_bytes(&self) -> usize {
    use std::mem::size_of;
    self.bulks.len() * size_of::<Bulk>()
      + self.resv_bulks.capacity() * (size_of::<(u32, Vec<u32>)>() + 1)
      + self.veto.capacity() * (size_of::<u32>() + 1)
  }
}

#[cfg(test)]
mod tests;
