//! Memory domains (TTM resource managers): VRAM and GTT with a capacity,
//! SYSTEM unbounded unless given one. Each is a `drm_mm` range allocator plus
//! the LRU of the buffers it holds (lru.rs).

use super::lru::Lru;
use super::{Device, Domain};
use crate::alloc::{InsertMode, Mm};
use crate::errno::{fail, Errno, Result};

/// Capacities in bytes. 0 for VRAM or GTT means the device has no such
/// manager (TTM skips places whose manager is missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
  pub vram: u64,
  pub gtt: u64,
  /// `None`: unbounded.
  pub system: Option<u64>,
}

impl Default for MemoryConfig {
  fn default() -> Self {
    MemoryConfig {
      vram: 256 << 20,
      gtt: 1 << 30,
      system: None,
    }
  }
}

pub(crate) struct MemDomain {
  pub mm: Mm,
  pub capacity: u64,
  /// LRU order: `seq -> object`, least recently used first.
  pub lru: Lru,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DomainStats {
  pub capacity: u64,
  pub used: u64,
  pub free: u64,
  pub largest_free: u64,
  /// `1 - largest_free / free`: 0 when the free space is one block.
  pub fragmentation: f64,
  /// Buffers on the LRU (resident and not pinned).
  pub lru_len: usize,
}

pub(crate) struct Memory {
  domains: [Option<MemDomain>; 3],
}

fn manager(capacity: u64) -> Result<MemDomain> {
  Ok(MemDomain {
    mm: Mm::new(0, capacity)?,
    capacity,
    lru: Lru::default(),
  })
}

impl Memory {
  pub fn new(cfg: MemoryConfig) -> Result<Memory> {
    let system = match cfg.system {
      Some(0) => return fail(Errno::EINVAL, "system memory needs a capacity above 0"),
      // The whole u64 range minus one byte: Mm ranges end below 2^64.
      Some(c) => c,
      None => u64::MAX,
    };
    let opt = |c: u64| if c == 0 { Ok(None) } else { manager(c).map(Some) };
    Ok(Memory {
      domains: [Some(manager(system)?), opt(cfg.gtt)?, opt(cfg.vram)?],
    })
  }

  pub fn heap_bytes(&self) -> usize {
    let domain = |m: &MemDomain| m.mm.heap_bytes() + m.lru.heap_bytes();
    self.domains.iter().flatten().map(domain).sum()
  }

  pub fn get(&self, d: Domain) -> Option<&MemDomain> {
    self.domains[d as usize - 1].as_ref()
  }

  pub fn get_mut(&mut self, d: Domain) -> Option<&mut MemDomain> {
    self.domains[d as usize - 1].as_mut()
  }
}

impl Device {
  /// Usage of one domain; ENODEV-like EINVAL when the device has none.
  pub fn domain_stats(&self, d: Domain) -> Result<DomainStats> {
    let Some(m) = self.mem.get(d) else {
      return fail(Errno::EINVAL, format!("the device has no {} manager", d.name()));
    };
    let s = m.mm.stats();
    Ok(DomainStats {
      capacity: m.capacity,
      used: s.used,
      free: s.free,
      largest_free: s.largest_hole,
      fragmentation: s.fragmentation(),
      lru_len: m.lru.len(),
    })
  }

  /// Allocates `size` bytes in `d`: `Ok(None)` for an empty buffer, ENOSPC
  /// when no hole fits. TOPDOWN takes the highest hole, as TTM's range manager.
  pub(crate) fn domain_alloc(&mut self, d: Domain, size: u64, topdown: bool) -> Result<Option<u64>> {
    let Some(m) = self.mem.get_mut(d) else {
      return fail(Errno::ENOSPC, format!("no {} manager", d.name()));
    };
    if size == 0 {
      return Ok(None);
    }
    let mode = if topdown {
      InsertMode::High
    } else {
      InsertMode::Best
    };
    let end = m.capacity;
    let n = m.mm.insert(size, 0, 0, 0, end, mode)?;
    Ok(Some(n.start))
  }

  pub(crate) fn domain_free(&mut self, d: Domain, node: Option<u64>) {
    if let (Some(m), Some(start)) = (self.mem.get_mut(d), node) {
      // The node was handed out by this allocator; a failure would be a bug
      // here, and leaking the range is the safe answer to it.
      let _ = m.mm.remove(start);
    }
  }
}
