//! Clear/dirty tracking beyond the per-block flag: the forced merge of free
//! buddies whose states differ, and `drm_buddy_reset_clear`.

use super::tree::{tree, State, NIL};
use super::Buddy;

impl Buddy {
  /// Free bytes known to be cleared.
  pub fn clear_avail(&self) -> u64 {
    self.clear_avail
  }

  /// `__force_merge`: walks the free blocks below `min_order` that lie in
  /// `[start, end)`, cleared list first, each list from the highest order
  /// down and the highest offset down, and merges every one whose buddy is
  /// free whatever its state (the result is dirty). True as soon as a block
  /// of at least `min_order` forms.
  pub(super) fn force_merge(&mut self, start: u64, end: u64, min_order: u32) -> bool {
    if min_order == 0 || min_order > self.max_order {
      return false;
    }
    for t in 0..2 {
      for order in (0..min_order).rev() {
        let mut below: Option<u64> = None;
        while let Some((off, id)) = self.free_below(t, order, below) {
          below = Some(off);
          let n = self.nodes[id as usize];
          if n.parent == NIL {
            continue;
          }
          let last = off + self.block_size(id) - 1;
          if !(start <= off && end >= last) {
            continue;
          }
          let p = self.nodes[n.parent as usize];
          let buddy = if p.left == id { p.right } else { p.left };
          if self.nodes[buddy as usize].state != State::Free {
            continue;
          }
          // The buddy sits in the other list (equal states would have merged),
          // so this walk's position stays valid.
          self.unlist(id);
          if n.clear {
            self.clear_avail -= self.block_size(id);
          }
          if self.merge_up(id, true) >= min_order {
            return true;
          }
        }
      }
    }
    false
  }

  /// `drm_buddy_reset_clear`: force-merges what is free (root by root), then
  /// marks every free block cleared (`is_clear`) or dirty.
  pub fn reset_clear(&mut self, is_clear: bool) {
    let mut left = self.size;
    for i in 0..self.roots.len() {
      let order = left.ilog2() - self.shift;
      let start = self.nodes[self.roots[i] as usize].offset;
      self.force_merge(start, start + left, order);
      left -= self.chunk << order;
    }
    let (src, dst) = (tree(!is_clear), tree(is_clear));
    for order in 0..=self.max_order as usize {
      for (off, id) in self.index.members(src, order as u32) {
        self.index.unlist(src, order as u32, off);
        self.nodes[id as usize].clear = is_clear;
        let size = self.block_size(id);
        if is_clear {
          self.clear_avail += size;
        } else {
          self.clear_avail -= size;
        }
        self.index.list(dst, order as u32, off, id);
      }
    }
  }
}
