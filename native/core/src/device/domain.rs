//! Memory domains (TTM resource managers, manager.rs): VRAM and GTT with a
//! capacity, SYSTEM unbounded unless given one, plus the driver's private
//! types. Each is a range allocator plus the LRU of the buffers it holds.

use super::manager::{check_private, AllocKind, Hop, ManagerOptions, MemDomain};
use super::mem_type::MAX_TYPES;
use super::placement::unseen;
use super::{Device, Domain, Place};
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
  pub allocator: AllocKind,
  /// Backed by system pages (SYSTEM, GTT), else device memory.
  pub use_tt: bool,
}

pub(crate) struct Memory {
  /// By memory type (index - 1); `None` for a type without a manager.
  domains: Vec<Option<MemDomain>>,
  pub hops: Vec<Hop>,
  /// Bumped by every allocation and free, in any type.
  epoch: u64,
  /// Per type, the last request a drm_mm manager refused, and the epoch
  /// then: until a range comes or goes, the same request fails again (a
  /// refused drm_mm insert changes nothing). Validation asks twice in a row
  /// (without, then with eviction), so the second answer is known.
  refused: [Option<(Place, u64, u64)>; MAX_TYPES as usize],
}

impl Memory {
  pub fn new(cfg: MemoryConfig, opts: &ManagerOptions) -> Result<Memory> {
    check_private(&opts.private)?;
    let system = match cfg.system {
      Some(0) => return fail(Errno::EINVAL, "system memory needs a capacity above 0"),
      // The whole u64 range minus one byte: Mm ranges end below 2^64.
      Some(c) => c,
      None => u64::MAX,
    };
    let opt = |c: u64, kind, tt| {
      if c == 0 {
        Ok(None)
      } else {
        MemDomain::new(c, kind, tt).map(Some)
      }
    };
    let mut domains = vec![
      Some(MemDomain::new(system, AllocKind::Mm, true)?),
      opt(cfg.gtt, opts.gtt, true)?,
      opt(cfg.vram, opts.vram, false)?,
    ];
    for t in &opts.private {
      domains.push(opt(t.size, t.allocator, t.use_tt)?);
    }
    for h in &opts.hops {
      if h.from == h.to || h.via == h.from || h.via == h.to || h.via.index() as usize > domains.len() {
        return fail(
          Errno::EINVAL,
          format!(
            "a hop {} -> {} through {} is not a detour",
            h.from.name(),
            h.to.name(),
            h.via.name()
          ),
        );
      }
    }
    debug_assert!(domains.len() <= MAX_TYPES as usize);
    Ok(Memory {
      domains,
      hops: opts.hops.clone(),
      epoch: 0,
      refused: [None; MAX_TYPES as usize],
    })
  }

  pub fn heap_bytes(&self) -> usize {
    self.domains.iter().flatten().map(MemDomain::heap_bytes).sum()
  }

  pub fn get(&self, d: Domain) -> Option<&MemDomain> {
    self.domains.get((d.index() as usize).wrapping_sub(1))?.as_ref()
  }

  pub fn get_mut(&mut self, d: Domain) -> Option<&mut MemDomain> {
    self
      .domains
      .get_mut((d.index() as usize).wrapping_sub(1))?
      .as_mut()
  }

  /// Memory types declared (3 plus the private ones).
  pub fn types(&self) -> u32 {
    self.domains.len() as u32
  }
}

impl Device {
  /// Usage of one domain; ENODEV-like EINVAL when the device has none.
  pub fn domain_stats(&self, d: Domain) -> Result<DomainStats> {
    let Some(m) = self.mem.get(d) else {
      return fail(Errno::EINVAL, format!("the device has no {} manager", d.name()));
    };
    let s = m.stats();
    Ok(DomainStats {
      capacity: m.capacity,
      used: s.used,
      free: s.free,
      largest_free: s.largest_free,
      fragmentation: if s.free == 0 {
        0.0
      } else {
        1.0 - s.largest_free as f64 / s.free as f64
      },
      lru_len: m.lru.len(),
      allocator: m.kind(),
      use_tt: m.use_tt,
    })
  }

  /// Allocates `size` bytes in `d`: `Ok(None)` for an empty buffer, ENOSPC
  /// when no hole fits. TOPDOWN takes the highest hole, as TTM's range manager.
  pub(crate) fn domain_alloc(&mut self, d: Domain, size: u64, topdown: bool) -> Result<Option<u64>> {
    let flags = if topdown { super::PL_TOPDOWN } else { 0 };
    self.place_alloc(Place::at(d, flags), size)
  }

  /// Allocates `size` bytes for one place (its window, CONTIGUOUS, TOPDOWN).
  /// Its ENOSPC is only ever taken as "no room" (dmem.rs, create_object,
  /// swap.rs): the message is for nobody.
  pub(crate) fn place_alloc(&mut self, p: Place, size: u64) -> Result<Option<u64>> {
    let i = (p.domain.index() as usize).wrapping_sub(1);
    let mem = &mut self.mem;
    let Some(m) = mem.domains.get_mut(i).and_then(Option::as_mut) else {
      return unseen(Errno::ENOSPC);
    };
    let ask = Some((p, size, mem.epoch));
    if mem.refused[i] == ask {
      return unseen(Errno::ENOSPC);
    }
    let mm = m.kind() == AllocKind::Mm;
    // drm_mm places a node in one hole, whatever the mode or window.
    if mm && size > 0 && m.stats().largest_free < size {
      return unseen(Errno::ENOSPC);
    }
    let r = m.alloc(size, p);
    match &r {
      Ok(Some(_)) => mem.epoch += 1,
      Err(e) if e.errno == Errno::ENOSPC && mm => mem.refused[i] = ask,
      _ => {}
    }
    r
  }

  pub(crate) fn domain_free(&mut self, d: Domain, node: Option<u64>) {
    if let Some(m) = self.mem.get_mut(d) {
      m.free(node);
      self.mem.epoch += u64::from(node.is_some());
    }
  }
}
