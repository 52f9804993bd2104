//! Picking blocks: the smallest free order that fits (or the highest block),
//! a range-biased depth-first search, an exact range, the kernel's fallback
//! for contiguous requests, and the trim of one allocated block.

use super::tree::{tree, State, NIL};
use super::{Buddy, CLEAR_ALLOCATION, RANGE, TOPDOWN};

fn overlaps(s1: u64, e1: u64, s2: u64, e2: u64) -> bool {
  s1 <= e2 && e1 >= s2
}

fn contains(s1: u64, e1: u64, s2: u64, e2: u64) -> bool {
  s1 <= s2 && e1 >= e2
}

/// The kernel's `round_up` for a power-of-two step, wrap-around included.
fn round_up(x: u64, step: u64) -> u64 {
  (x.wrapping_sub(1) | (step - 1)).wrapping_add(1)
}

fn round_down(x: u64, step: u64) -> u64 {
  x & !(step - 1)
}

impl Buddy {
  /// One block of `order` for `drm_buddy_alloc_blocks`: range-biased or from the free lists.
  pub(super) fn alloc_one(&mut self, start: u64, end: u64, order: u32, flags: u32) -> Option<u32> {
    if flags & RANGE != 0 {
      // Blocks of the wanted clear state first, then any.
      self
        .alloc_range_bias(start, end, order, flags, false)
        .or_else(|| self.alloc_range_bias(start, end, order, flags, true))
    } else {
      self.alloc_from_free(order, flags)
    }
  }

  /// A free block of exactly `order`, split from the free lists: from the
  /// list of the wanted clear state (cleared with CLEAR_ALLOCATION, else
  /// dirty) if it has one that fits, else from the other.
  pub(super) fn alloc_from_free(&mut self, order: u32, flags: u32) -> Option<u32> {
    let want = tree(flags & CLEAR_ALLOCATION != 0);
    let mut pick: Option<(u64, u32, u32)> = None;
    if flags & TOPDOWN == 0 {
      pick = self
        .index
        .first_order(want, order)
        .and_then(|o| self.free_below(want, o, None).map(|(off, id)| (off, id, o)));
    } else {
      let mut orders = self.index.orders(want).checked_shr(order).unwrap_or(0) << order;
      while orders != 0 {
        let o = orders.trailing_zeros();
        orders &= orders - 1;
        if let Some((off, id)) = self.free_below(want, o, None) {
          if pick.is_none_or(|(best, _, _)| off > best) {
            pick = Some((off, id, o));
          }
        }
      }
    }
    if pick.is_none() {
      pick = self
        .index
        .first_order(1 - want, order)
        .and_then(|o| self.free_below(1 - want, o, None).map(|(off, id)| (off, id, o)));
    }
    let (_, mut id, mut o) = pick?;
    while o != order {
      self.split(id);
      id = self.nodes[id as usize].right;
      o -= 1;
    }
    Some(id)
  }

  /// A free block of `order` inside `[start, end)`, found depth first from the
  /// roots, lowest address first; splits only on the way to a sure hit.
  /// Unless `fallback`, blocks (split ones included, which are never clear)
  /// whose clear state differs from the one asked for are skipped.
  pub(super) fn alloc_range_bias(
    &mut self,
    start: u64,
    end: u64,
    order: u32,
    flags: u32,
    fallback: bool,
  ) -> Option<u32> {
    let req = self.chunk << order;
    let end = end.wrapping_sub(1);
    let mut stack: Vec<u32> = self.roots.iter().rev().copied().collect();
    while let Some(id) = stack.pop() {
      let n = self.nodes[id as usize];
      if n.order < order {
        continue;
      }
      let bs = n.offset;
      let be = bs + self.block_size(id) - 1;
      if !overlaps(start, end, bs, be) || n.state == State::Allocated {
        continue;
      }
      if bs < start || be > end {
        // No aligned slot of the requested size inside the overlap.
        let (s, e) = (bs.max(start), be.min(end));
        if round_down(e + 1, req) <= round_up(s, req) {
          continue;
        }
      }
      if !fallback && n.clear != (flags & CLEAR_ALLOCATION != 0) {
        continue;
      }
      if contains(start, end, bs, be) && order == n.order {
        if n.state == State::Free {
          return Some(id);
        }
        continue;
      }
      if n.state != State::Split {
        self.split(id);
      }
      let n = self.nodes[id as usize];
      stack.push(n.right);
      stack.push(n.left);
    }
    None
  }

  /// Allocates exactly `[start, start + size)` below the `from` blocks, in
  /// address order. On failure, with `keep_partial`, the blocks taken so far
  /// stay allocated and are returned with their total; otherwise they are freed.
  pub(super) fn alloc_exact(
    &mut self,
    from: Vec<u32>,
    start: u64,
    size: u64,
    keep_partial: bool,
  ) -> Result<Vec<u32>, (Vec<u32>, u64)> {
    let end = start.wrapping_add(size).wrapping_sub(1);
    let mut stack = from;
    stack.reverse();
    let mut taken = Vec::new();
    let mut total = 0u64;
    let mut ok = true;
    while let Some(id) = stack.pop() {
      let n = self.nodes[id as usize];
      let bs = n.offset;
      let be = bs + self.block_size(id) - 1;
      if !overlaps(start, end, bs, be) {
        continue;
      }
      if n.state == State::Allocated {
        ok = false;
        break;
      }
      if contains(start, end, bs, be) {
        if n.state == State::Free {
          self.mark_allocated(id);
          total += self.block_size(id);
          taken.push(id);
          continue;
        }
        // A split block inside the range: with nothing cleared free it has an
        // allocated descendant; otherwise its halves may be free but unmerged.
        if self.clear_avail == 0 {
          ok = false;
          break;
        }
      }
      if n.state != State::Split {
        self.split(id);
      }
      let n = self.nodes[id as usize];
      stack.push(n.right);
      stack.push(n.left);
    }
    if ok && total >= size {
      return Ok(taken);
    }
    if keep_partial {
      return Err((taken, total));
    }
    self.release_all(&taken);
    Err((Vec::new(), 0))
  }

  /// The free block of list `t` (cleared or dirty) and `order` with the
  /// highest offset below `below` (the highest of all for `None`): a walk
  /// from the top that stays valid while the walk changes other lists.
  pub(super) fn free_below(&self, t: usize, order: u32, below: Option<u64>) -> Option<(u64, u32)> {
    self.index.below(t, order, below)
  }

  /// The kernel's fallback for CONTIGUOUS without RANGE: for each free block
  /// of the rounded-down order, highest first, take what is free to its right
  /// and the rest just to its left.
  pub(super) fn contig_try_harder(&mut self, size: u64, min_block: u64) -> Option<Vec<u32>> {
    let order = size.ilog2() - self.shift;
    if order == 0 || order > self.max_order {
      return None;
    }
    // Each failed round frees what it took, which restores the free lists
    // exactly, so walking them by offset matches the kernel's tree walk:
    // the cleared list first, then the dirty one.
    for t in 0..2 {
      let mut below: Option<u64> = None;
      while let Some((rhs, _)) = self.free_below(t, order, below) {
        below = Some(rhs);
        let (rhs_blocks, filled) = match self.alloc_exact(self.roots.clone(), rhs, size, true) {
          Ok(b) => return Some(b),
          Err(partial) => partial,
        };
        let mut lhs_size = (size - filled).max(min_block);
        if lhs_size & (min_block - 1) != 0 {
          lhs_size = round_up(lhs_size, min_block);
        }
        let lhs = rhs.wrapping_sub(lhs_size);
        match self.alloc_exact(self.roots.clone(), lhs, lhs_size, false) {
          Ok(mut b) => {
            b.extend(rhs_blocks);
            return Some(b);
          }
          Err(_) => self.release_all(&rhs_blocks),
        }
      }
    }
    None
  }

  /// Frees the block and re-allocates only `[offset, offset + new_size)` of it.
  pub(super) fn trim_node(&mut self, id: u32, new_size: u64) -> Vec<u32> {
    if new_size == self.block_size(id) {
      return vec![id];
    }
    let offset = self.nodes[id as usize].offset;
    self.index.remove_allocated(offset);
    self.avail += self.block_size(id);
    if self.nodes[id as usize].clear {
      self.clear_avail += self.block_size(id);
    }
    self.mark_free(id);
    // Detached so that nothing merges past it while it is re-split.
    let parent = std::mem::replace(&mut self.nodes[id as usize].parent, NIL);
    let pieces = match self.alloc_exact(vec![id], offset, new_size, false) {
      Ok(p) => p,
      Err(_) => {
        self.mark_allocated(id);
        vec![id]
      }
    };
    self.nodes[id as usize].parent = parent;
    pieces
  }
}
