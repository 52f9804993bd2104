//! A simulated DRM device: GEM objects, their reservation objects (ww_mutex +
//! fences), acquire contexts, fences, a simulated clock and the violation log.
//!
//! Nothing here blocks: a lock that would sleep returns `Blocked` and the
//! caller (the TypeScript scheduler) parks the simulated thread. Lock and pin
//! state live here so that a placement/eviction routine can ask who holds
//! what. Ids of resvs, contexts and fences are dense (index + 1), so both
//! engines hand out the same ones.

// Time: the copy engine, move fences, delayed destroy (issue 16).
mod copy;
// The dmem cgroup controller (issue 16).
mod bulk;
mod dmem;
mod domain;
// drm_exec's runs: the per-object exec steps over a run of objects (execloop).
mod exec_run;
mod fence;
mod gem;
mod hooks;
mod lru;
mod objects;
mod seqlist;
// Resource managers, memory types and places (ttm-res).
mod manager;
mod mem_type;
mod place;
mod placement;
mod pressure;
mod resource;
mod resv;
mod swap;
// ttm-pool: tts drawn from TTM page pools.
mod tt_pool;
mod violation;

pub use copy::{CopyConfig, CopyJob, PendingDestroy, TimedValidated, COPY_CONTEXT};
pub use dmem::{Cgroup, CgroupStats, Counter, DmemMode, ROOT as CGROUP_ROOT};
pub use domain::{DomainStats, MemoryConfig};
pub use fence::{Fence, Usage};
pub use gem::{GemObj, Mapping, PinDomain, Profile, VmapKind};
// ttm-lru: priorities, bulk moves, eviction policy, swap.
pub use lru::MAX_PRIORITY;
pub use manager::{AllocKind, Hop, ManagerOptions, TypeConfig};
pub use mem_type::{Domain, MAX_TYPES, PRIV_BASE};
pub use place::{Place, PAGE_SHIFT, PL_CONTIGUOUS, PL_DESIRED, PL_FALLBACK, PL_TEMPORARY, PL_TOPDOWN};
pub use placement::{MoveEvent, PlacementTotals, Validated};
pub use pressure::{EvictionPolicy, ObjPressure, SwapTotals};
pub use resource::ResourceInfo;
pub use resv::{AcquireCtx, Holder, LockMode, LockResult, Resv, WwClass};
pub use violation::{Violation, ViolationKind};

use crate::errno::{fail, Errno, Result};
use domain::Memory;

pub struct Device {
  class: WwClass,
  /// GEM object records by id (objects.rs: a vector for dense ids).
  objects: objects::Table<GemObj>,
  resvs: Vec<Resv>,
  ctxs: Vec<AcquireCtx>,
  fences: Vec<Fence>,
  /// Last stamp handed out; stamps start at 1 (lower = older = wins).
  stamp: u64,
  /// Simulated time in nanoseconds.
  now: u64,
  violations: Vec<Violation>,
  /// Memory domains with their allocators and LRUs.
  mem: Memory,
  /// Last LRU position handed out (tail = highest).
  lru_seq: u64,
  /// Objects of each resv (index `resv - 1`), in id order: unlocking bumps them all.
  resv_users: Vec<Vec<u32>>,
  moves: Vec<MoveEvent>,
  track_moves: bool,
  /// Moves not yet handed to the VA spaces tied to the device (`notify_moves`).
  notified: Vec<MoveEvent>,
  notify_moves: bool,
  totals: PlacementTotals,
  /// The copy engine; `None`: moves are instant (issue 16).
  copy: Option<Box<copy::CopyEngine>>,
  /// dmem cgroups and their charges (dmem.rs).
  dmem: dmem::Dmem,
  /// ttm-lru: bulk moves, eviction policy, swap (pressure.rs).
  pressure: pressure::Pressure,
  /// ttm-pool: the page pool tts come from; `None`: not modelled.
  tt_pool: Option<Box<tt_pool::TtPool>>,
}

impl Device {
  pub fn new(class: WwClass) -> Self {
    Self::with_memory(class, MemoryConfig::default()).expect("the default memory configuration is valid")
  }

  /// A device with the given domain capacities (EINVAL for a zero SYSTEM).
  pub fn with_memory(class: WwClass, memory: MemoryConfig) -> Result<Self> {
    Self::with_managers(class, memory, &ManagerOptions::default())
  }

  /// Capacities plus the managers' allocators, private types and multihop rules.
  pub fn with_managers(class: WwClass, memory: MemoryConfig, managers: &ManagerOptions) -> Result<Self> {
    Ok(Device {
      class,
      objects: objects::Table::default(),
      resvs: Vec::new(),
      ctxs: Vec::new(),
      fences: Vec::new(),
      stamp: 0,
      now: 0,
      violations: Vec::new(),
      mem: Memory::new(memory, managers)?,
      lru_seq: 0,
      resv_users: Vec::new(),
      moves: Vec::new(),
      track_moves: false,
      notified: Vec::new(),
      notify_moves: false,
      totals: PlacementTotals::default(),
      copy: None,
      dmem: dmem::Dmem::default(),
      pressure: pressure::Pressure::default(),
      tt_pool: None,
    })
  }

  pub fn class(&self) -> WwClass {
    self.class
  }

  pub fn now(&self) -> u64 {
    self.now
  }

  /// Moves the clock forward; fences whose time has come read as signaled.
  pub fn advance(&mut self, ns: u64) -> Result<u64> {
    match self.now.checked_add(ns) {
      Some(t) => {
        self.now = t;
        self.reap_destroyed();
        Ok(t)
      }
      None => fail(Errno::EINVAL, "the simulated clock would overflow u64"),
    }
  }

  /// Heap bytes held, estimated (`crate::heap`): the objects, locks,
  /// contexts, fences, logs and the domains' allocators and LRUs. Fence
  /// lists and messages are counted at a typical size, to stay constant time.
  pub fn heap_bytes(&self) -> usize {
    use crate::heap::vec;
    use std::mem::size_of;
    const FENCE_LIST: usize = 4 * size_of::<(u32, Usage)>();
    const MESSAGE: usize = 96;
    self.objects.heap_bytes()
      + vec(&self.resvs)
      + self.resvs.len() * FENCE_LIST
      + vec(&self.ctxs)
      + vec(&self.fences)
      + vec(&self.violations)
      + self.violations.len() * MESSAGE
      + vec(&self.moves)
      + vec(&self.notified)
      + vec(&self.resv_users)
      + self.resv_users.len() * size_of::<u32>()
      + self.mem.heap_bytes()
      + self.pressure.heap_bytes()
  }

  pub fn violations(&self) -> &[Violation] {
    &self.violations
  }

  pub fn take_violations(&mut self) -> Vec<Violation> {
    std::mem::take(&mut self.violations)
  }

  pub(crate) fn violate(&mut self, kind: ViolationKind, object: u32, message: String) {
    self.violations.push(Violation {
      kind,
      object,
      message,
    });
  }
}

/// Index of a dense id (1-based), or EINVAL naming what it is.
fn slot(id: u32, len: usize, what: &str) -> Result<usize> {
  let i = (id as usize).wrapping_sub(1);
  if id == 0 || i >= len {
    return fail(Errno::EINVAL, format!("no {what} with id {id}"));
  }
  Ok(i)
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
