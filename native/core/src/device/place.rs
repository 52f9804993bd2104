//! One place of a placement (`struct ttm_place`): a memory type, a page
//! window `[fpfn, lpfn)` (lpfn 0: to the end) and TTM's flags. Each place
//! crosses the binding as three u32: `domain | flags << 8`, fpfn, lpfn.

use super::mem_type::MAX_TYPES;
use super::Domain;
use crate::errno::{fail, Errno, Result};

/// TTM_PL_FLAG_CONTIGUOUS: one run of memory.
pub const PL_CONTIGUOUS: u32 = 1 << 0;
pub const PL_TOPDOWN: u32 = 1 << 1;
/// TTM_PL_FLAG_TEMPORARY: a bounce; a buffer left there is never compatible.
pub const PL_TEMPORARY: u32 = 1 << 2;
pub const PL_DESIRED: u32 = 1 << 3;
pub const PL_FALLBACK: u32 = 1 << 4;
const PL_KNOWN: u32 = PL_CONTIGUOUS | PL_TOPDOWN | PL_TEMPORARY | PL_DESIRED | PL_FALLBACK;
pub const PAGE_SHIFT: u32 = 12;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Place {
  pub domain: Domain,
  /// `PL_*`, the kernel's bit values.
  pub flags: u32,
  /// First page of the window.
  pub fpfn: u32,
  /// Page past the window; 0 means the end of the manager.
  pub lpfn: u32,
}

impl Place {
  /// A place without a window.
  pub const fn at(domain: Domain, flags: u32) -> Place {
    Place {
      domain,
      flags,
      fpfn: 0,
      lpfn: 0,
    }
  }

  pub fn new(domain: Domain, flags: u32) -> Result<Place> {
    Place::windowed(domain, flags, 0, 0)
  }

  /// EINVAL for unknown flags or an empty or reversed window.
  pub fn windowed(domain: Domain, flags: u32, fpfn: u32, lpfn: u32) -> Result<Place> {
    if flags & !PL_KNOWN != 0 {
      return fail(Errno::EINVAL, format!("unknown place flags {flags:#x}"));
    }
    if lpfn != 0 && fpfn >= lpfn {
      return fail(
        Errno::EINVAL,
        format!("place window fpfn {fpfn} must be below lpfn {lpfn}"),
      );
    }
    Ok(Place {
      domain,
      flags,
      fpfn,
      lpfn,
    })
  }

  /// Decodes a whole placement, three u32 per place.
  pub fn decode_all(v: &[u32]) -> Result<Vec<Place>> {
    if !v.len().is_multiple_of(3) {
      return fail(
        Errno::EINVAL,
        format!("a placement is three numbers per place, got {}", v.len()),
      );
    }
    v.chunks_exact(3)
      .map(|c| Place::decode(c[0], c[1], c[2]))
      .collect()
  }

  pub fn decode(head: u32, fpfn: u32, lpfn: u32) -> Result<Place> {
    let Some(domain) = Domain::from_index(head & 0xff) else {
      return fail(
        Errno::EINVAL,
        format!("a place needs a memory type 1..{MAX_TYPES}, got {}", head & 0xff),
      );
    };
    Place::windowed(domain, head >> 8, fpfn, lpfn)
  }

  pub fn encode(self) -> [u32; 3] {
    [self.domain.index() | self.flags << 8, self.fpfn, self.lpfn]
  }

  pub fn encode_all(p: &[Place]) -> Vec<u32> {
    p.iter().flat_map(|p| p.encode()).collect()
  }

  pub fn has(self, f: u32) -> bool {
    self.flags & f != 0
  }

  /// The window in bytes, clipped to a manager of `capacity` bytes (may be empty).
  pub fn window(self, capacity: u64) -> (u64, u64) {
    let start = u64::from(self.fpfn) << PAGE_SHIFT;
    let end = match self.lpfn {
      0 => capacity,
      l => (u64::from(l) << PAGE_SHIFT).min(capacity),
    };
    (start.min(end), end)
  }

  pub fn has_window(self) -> bool {
    self.fpfn != 0 || self.lpfn != 0
  }
}
