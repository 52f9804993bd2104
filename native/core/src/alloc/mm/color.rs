//! Node colours: the guard between allocated neighbours of different colours
//! (a declarative `color_adjust`) and `drm_mm_replace_node`.

use super::{Mm, MmNode, HEAD};
use crate::errno::{fail, Errno, Result};

impl Mm {
  /// `drm_mm_init` with a colour guard: `guard` free bytes are kept between
  /// two allocated nodes whose colours differ (0: colours are only tags).
  pub fn with_color_guard(start: u64, size: u64, guard: u64) -> Result<Mm> {
    let mut mm = Mm::new(start, size)?;
    mm.guard = guard;
    Ok(mm)
  }

  pub fn color_guard(&self) -> u64 {
    self.guard
  }

  /// The usable part of the hole `[start, end)` between slots `prev` and
  /// `next` for a node of `color`: shrunk by the guard at each side whose
  /// neighbour is an allocated node of another colour. The head slot (the
  /// range edges) is not a node and never asks for a guard. May return an
  /// empty or inverted pair, which every caller treats as "does not fit".
  pub(super) fn color_adjust(&self, prev: u32, next: u32, color: u64, start: u64, end: u64) -> (u64, u64) {
    if self.guard == 0 {
      return (start, end);
    }
    let (mut s, mut e) = (start, end);
    if prev != HEAD && self.slots[prev as usize].color != color {
      s = s.saturating_add(self.guard);
    }
    if next != HEAD && self.slots[next as usize].color != color {
      e = e.saturating_sub(self.guard);
    }
    (s, e)
  }

  /// `drm_mm_replace_node`: a new node takes the place of the one at `start`
  /// (same range, same hole after it). The kernel copies the old colour; a
  /// different `color` is accepted only where a reserve of that colour would
  /// be (ENOSPC otherwise, nothing changed).
  pub fn replace(&mut self, start: u64, color: u64) -> Result<MmNode> {
    self.not_scanning()?;
    let id = self.node_id(start)?;
    let s = self.slots[id as usize];
    let (hs, he) = (self.hole_start(s.prev), self.slots[s.next as usize].start);
    let (cs, ce) = self.color_adjust(s.prev, s.next, color, hs, he);
    let end = s.start + s.size;
    if cs > s.start || ce < end {
      return fail(
        Errno::ENOSPC,
        format!(
          "[{:#x}, {end:#x}) is too close to a node of another colour for colour {color:#x}",
          s.start
        ),
      );
    }
    self.slots[id as usize].color = color;
    Ok(self.node(id))
  }
}
