//! The eviction scan (`drm_mm_scan_*`): candidates are added one by one as
//! if freed, until the hole they would leave fits the request; then the ones
//! that do not border it are taken out again, and the rest are evicted.

use super::{fit, InsertMode, Mm, Slot, HEAD};
use crate::errno::{fail, Errno, Result};

/// The parameters of an eviction scan and the hole it found last.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scan {
  size: u64,
  alignment: u64,
  color: u64,
  high: bool,
  range_start: u64,
  range_end: u64,
  hit_start: u64,
  hit_end: u64,
}

impl Mm {
  /// `drm_mm_scan_init_with_range`. EBUSY while blocks of an earlier scan are
  /// still added; EINVAL for what the kernel treats as a bug (an empty range,
  /// a size of 0 or larger than the range, the EVICT mode).
  pub fn scan_init(
    &mut self,
    size: u64,
    alignment: u64,
    color: u64,
    range_start: u64,
    range_end: u64,
    mode: InsertMode,
  ) -> Result<()> {
    self.not_scanning()?;
    if mode == InsertMode::Evict {
      return fail(Errno::EINVAL, "a scan's mode must be best, low or high");
    }
    if range_start >= range_end || size == 0 || size > range_end - range_start {
      return fail(
        Errno::EINVAL,
        format!("scan size {size:#x} does not fit in range [{range_start:#x}, {range_end:#x})"),
      );
    }
    self.scan = Some(Scan {
      size,
      alignment: if alignment <= 1 { 0 } else { alignment },
      color,
      high: mode == InsertMode::High,
      range_start,
      range_end,
      hit_start: u64::MAX,
      hit_end: 0,
    });
    Ok(())
  }

  fn scan_state(&self) -> Result<Scan> {
    match self.scan {
      Some(s) => Ok(s),
      None => fail(Errno::EINVAL, "no scan was started"),
    }
  }

  /// `drm_mm_scan_add_block`: unlinks the node from the address list (keeping
  /// its own links for the way back) and reports whether the hole around it
  /// now fits the request.
  pub fn scan_add_block(&mut self, start: u64) -> Result<bool> {
    let scan = self.scan_state()?;
    let id = self.node_id(start)?;
    if self.slots[id as usize].scanned {
      return fail(
        Errno::EINVAL,
        format!("node at {start:#x} is already in the scan"),
      );
    }
    self.slots[id as usize].scanned = true;
    self.scanned.push(id);
    let Slot { prev, next, .. } = self.slots[id as usize];
    self.slots[prev as usize].next = next;
    self.slots[next as usize].prev = prev;
    let hs = self.hole_start(prev);
    let he = self.hole_end(prev);
    let (cs, ce) = self.color_adjust(prev, next, scan.color, hs, he);
    match fit(
      cs,
      ce,
      scan.size,
      scan.alignment,
      scan.range_start,
      scan.range_end,
      scan.high,
    ) {
      Some(at) => {
        if let Some(s) = self.scan.as_mut() {
          s.hit_start = at;
          s.hit_end = at + scan.size;
        }
        Ok(true)
      }
      None => Ok(false),
    }
  }

  /// `drm_mm_scan_remove_block`: must undo the adds in reverse order (EINVAL
  /// otherwise, where the kernel would corrupt its list). True when the node
  /// overlaps the hole found and so must be evicted.
  pub fn scan_remove_block(&mut self, start: u64) -> Result<bool> {
    let scan = self.scan_state()?;
    let id = self.node_id(start)?;
    if !self.slots[id as usize].scanned {
      return fail(Errno::EINVAL, format!("node at {start:#x} is not in the scan"));
    }
    if self.scanned.last() != Some(&id) {
      return fail(
        Errno::EINVAL,
        format!("node at {start:#x} is not the last one added to the scan"),
      );
    }
    self.scanned.pop();
    let s = &mut self.slots[id as usize];
    s.scanned = false;
    let Slot { prev, next, size, .. } = *s;
    self.slots[prev as usize].next = id;
    self.slots[next as usize].prev = id;
    Ok(start + size > scan.hit_start && start < scan.hit_end)
  }

  /// The hole the scan found last, `[start, end)`, if any.
  pub fn scan_hit(&self) -> Option<(u64, u64)> {
    self
      .scan
      .filter(|s| s.hit_end != 0)
      .map(|s| (s.hit_start, s.hit_end))
  }

  /// `drm_mm_scan_color_evict`, after the scan's victims are gone: the hole
  /// found may still be too small once the colour guard of its neighbours is
  /// counted; then the neighbour to evict as well (the one before the hole,
  /// else the one after). None without a colour guard, without a hit, or
  /// when the hole is gone. EBUSY while blocks are still added.
  pub fn scan_color_evict(&self) -> Result<Option<u64>> {
    let scan = self.scan_state()?;
    self.not_scanning()?;
    if self.guard == 0 || scan.hit_end == 0 {
      return Ok(None);
    }
    // Newest hole first: the scan's hole is normally on top of the stack.
    let hole = self.hole_stack().find(|&id| {
      let hs = self.hole_start(id);
      hs <= scan.hit_start && hs.wrapping_add(self.slots[id as usize].hole_size) >= scan.hit_end
    });
    let Some(id) = hole else { return Ok(None) };
    let hs = self.hole_start(id);
    let he = hs.wrapping_add(self.slots[id as usize].hole_size);
    let next = self.slots[id as usize].next;
    let (cs, ce) = self.color_adjust(id, next, scan.color, hs, he);
    let victim = if cs > scan.hit_start {
      id
    } else if ce < scan.hit_end {
      next
    } else {
      return Ok(None);
    };
    Ok((victim != HEAD).then(|| self.slots[victim as usize].start))
  }

  /// Blocks added and not yet removed.
  pub fn scan_active(&self) -> usize {
    self.scanned.len()
  }

  /// A whole scan round in one call: adds `candidates` in order until a hole
  /// fits, then removes them in reverse. Returns whether a hole was found and
  /// the nodes to evict, in removal order. On a bad candidate the blocks added
  /// so far are removed again before the error is returned.
  pub fn scan_run(&mut self, candidates: &[u64]) -> Result<(bool, Vec<u64>)> {
    self.scan_state()?;
    let mut added = Vec::new();
    let mut found = false;
    for &start in candidates {
      match self.scan_add_block(start) {
        Ok(hit) => {
          added.push(start);
          if hit {
            found = true;
            break;
          }
        }
        Err(e) => {
          for &s in added.iter().rev() {
            self.scan_remove_block(s)?;
          }
          return Err(e);
        }
      }
    }
    let mut evict = Vec::new();
    for &start in added.iter().rev() {
      if self.scan_remove_block(start)? {
        evict.push(start);
      }
    }
    Ok((found, evict))
  }
}
