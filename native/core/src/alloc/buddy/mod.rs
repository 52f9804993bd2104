//! A `drm_buddy`-style allocator: power-of-two blocks of `chunk << order`
//! bytes, split on demand and merged back with their buddy when both are free.
//!
//! A size that is not a power of two gets one root per set bit, largest
//! first. Free blocks are kept per order, sorted by offset; like the kernel,
//! plain allocation takes the highest-offset block of the smallest order that
//! fits and keeps the right half of every split.
//!
//! Clear/dirty tracking (`clear`): a block freed as cleared stays known to be
//! zeroed; free blocks sit in a cleared or a dirty list per order; buddies of
//! different states are not merged until an allocation that cannot be met
//! otherwise force-merges them (the merged block is dirty).
//!
//! Allocated blocks are named by their offset, unique among allocated blocks.
//!
//! The files: `tree` the block tree and its per-order free lists (split,
//! merge, mark); `find` the searches that pick blocks (free lists, range
//! bias, exact ranges, the contiguous fallback) and the trim of one block;
//! this file the `drm_buddy_*` entry points, which check their arguments.

mod bits;
mod clear;
mod find;
mod index;
mod tree;

use crate::errno::{fail, Errno, Result};
use index::Index;
use rustc_hash::FxHashSet;
use tree::{Node, State, NIL};

/// `DRM_BUDDY_RANGE_ALLOCATION`: stay inside `[start, end)`.
pub const RANGE: u32 = 1 << 0;
/// `DRM_BUDDY_TOPDOWN_ALLOCATION`: the highest free block.
pub const TOPDOWN: u32 = 1 << 1;
/// `DRM_BUDDY_CONTIGUOUS_ALLOCATION`: one run (rounded up to a power of two, then trimmed).
pub const CONTIGUOUS: u32 = 1 << 2;
/// `DRM_BUDDY_CLEAR_ALLOCATION`: prefer cleared blocks.
pub const CLEAR_ALLOCATION: u32 = 1 << 3;
/// `DRM_BUDDY_CLEARED`: a flag of `drm_buddy_free_list`, the blocks were zeroed.
pub const CLEARED: u32 = 1 << 4;
/// `DRM_BUDDY_TRIM_DISABLE`: keep the rounded-up tail.
pub const TRIM_DISABLE: u32 = 1 << 5;
const KNOWN_FLAGS: u32 = RANGE | TOPDOWN | CONTIGUOUS | CLEAR_ALLOCATION | TRIM_DISABLE;

/// `DRM_BUDDY_MAX_ORDER`: 64-bit offsets of 4 KiB chunks.
pub const MAX_ORDER: u32 = 63 - 12;
pub const MIN_CHUNK: u64 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
  pub offset: u64,
  pub order: u32,
  pub size: u64,
  /// Known to hold zeroes (for an allocated block: when it was handed out).
  pub clear: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuddyStats {
  pub size: u64,
  pub avail: u64,
  /// Free bytes known to be cleared (`clear_avail`).
  pub clear_avail: u64,
  pub used: u64,
  pub largest_free: u64,
  pub free_blocks: usize,
  pub allocated_blocks: usize,
}

impl BuddyStats {
  /// `1 - largest_free / avail`; 0 when nothing is free.
  pub fn fragmentation(&self) -> f64 {
    if self.avail == 0 {
      0.0
    } else {
      1.0 - self.largest_free as f64 / self.avail as f64
    }
  }
}

#[derive(Clone, Debug)]
pub struct Buddy {
  size: u64,
  chunk: u64,
  shift: u32,
  max_order: u32,
  avail: u64,
  clear_avail: u64,
  nodes: Vec<Node>,
  free_slots: Vec<u32>,
  roots: Vec<u32>,
  /// The free lists (per free tree, 0 cleared and 1 dirty, and order) and
  /// the allocated blocks, by offset.
  index: Index,
  /// Scratch: the blocks of the allocation or free under way (kept for its capacity).
  taken: Vec<u32>,
}

impl Buddy {
  /// Heap bytes held, estimated (`crate::heap`).
  pub fn heap_bytes(&self) -> usize {
    use crate::heap::vec;
    vec(&self.nodes) + vec(&self.free_slots) + vec(&self.roots) + vec(&self.taken) + self.index.heap_bytes()
  }
}

impl Buddy {
  /// `drm_buddy_init`. The size is rounded down to a multiple of the chunk.
  pub fn new(size: u64, chunk: u64) -> Result<Buddy> {
    Buddy::with_index(size, chunk, None)
  }

  /// `new`, indexed with bitmaps (`Some(true)`), maps (`Some(false)`) or as
  /// its size says (`None`): the tests hold one form against the other.
  fn with_index(size: u64, chunk: u64, dense: Option<bool>) -> Result<Buddy> {
    if size < chunk {
      return fail(
        Errno::EINVAL,
        format!("size {size:#x} is below the chunk size {chunk:#x}"),
      );
    }
    if chunk < MIN_CHUNK {
      return fail(Errno::EINVAL, format!("chunk size {chunk:#x} is below 4 KiB"));
    }
    if !chunk.is_power_of_two() {
      return fail(
        Errno::EINVAL,
        format!("chunk size {chunk:#x} is not a power of two"),
      );
    }
    let size = size & !(chunk - 1);
    let shift = chunk.trailing_zeros();
    let max_order = size.ilog2() - shift;
    let mut b = Buddy {
      size,
      chunk,
      shift,
      max_order,
      avail: size,
      clear_avail: 0,
      nodes: Vec::new(),
      free_slots: Vec::new(),
      roots: Vec::new(),
      index: match dense {
        Some(d) => Index::with_kind(size, shift, max_order, d),
        None => Index::new(size, shift, max_order),
      },
      taken: Vec::new(),
    };
    let (mut offset, mut left) = (0u64, size);
    while left != 0 {
      let order = left.ilog2() - shift;
      let root = b.new_node(NIL, order, offset);
      b.mark_free(root);
      b.roots.push(root);
      offset += chunk << order;
      left -= chunk << order;
    }
    Ok(b)
  }

  pub fn size(&self) -> u64 {
    self.size
  }

  pub fn chunk_size(&self) -> u64 {
    self.chunk
  }

  pub fn max_order(&self) -> u32 {
    self.max_order
  }

  pub fn avail(&self) -> u64 {
    self.avail
  }

  pub fn roots(&self) -> Vec<Block> {
    self.roots.iter().map(|&r| self.block(r)).collect()
  }

  /// `drm_buddy_alloc_blocks`. `start`/`end` bound a RANGE allocation, and an
  /// exact one whenever `start + size == end` (whatever the flags).
  pub fn alloc_blocks(
    &mut self,
    start: u64,
    end: u64,
    size: u64,
    min_block: u64,
    flags: u32,
  ) -> Result<Vec<Block>> {
    self.alloc_map(start, end, size, min_block, flags, |b| b)
  }

  /// `alloc_blocks`, each block handed out as `f` makes it (one list, in
  /// the caller's form).
  pub fn alloc_map<T>(
    &mut self,
    start: u64,
    end: u64,
    size: u64,
    min_block: u64,
    flags: u32,
    f: impl Fn(Block) -> T,
  ) -> Result<Vec<T>> {
    let chunk = self.chunk;
    if flags & !KNOWN_FLAGS != 0 {
      return fail(
        Errno::EINVAL,
        format!("unknown flags {:#x}", flags & !KNOWN_FLAGS),
      );
    }
    if size < chunk {
      return fail(
        Errno::EINVAL,
        format!("size {size:#x} is below the chunk size {chunk:#x}"),
      );
    }
    if min_block < chunk {
      return fail(
        Errno::EINVAL,
        format!("min block size {min_block:#x} is below the chunk size {chunk:#x}"),
      );
    }
    if !min_block.is_power_of_two() {
      return fail(
        Errno::EINVAL,
        format!("min block size {min_block:#x} is not a power of two"),
      );
    }
    if (start | end | size) & (chunk - 1) != 0 {
      return fail(
        Errno::EINVAL,
        format!(
          "start {start:#x}, end {end:#x} and size {size:#x} must be multiples of the chunk size {chunk:#x}"
        ),
      );
    }
    if end > self.size {
      return fail(
        Errno::EINVAL,
        format!("end {end:#x} is past the size {:#x}", self.size),
      );
    }
    if start >= self.size || size > self.size - start {
      return fail(
        Errno::EINVAL,
        format!("{size:#x} bytes at {start:#x} overflow the size {:#x}", self.size),
      );
    }
    if start + size == end {
      if (start | end) & (min_block - 1) != 0 {
        return fail(
          Errno::EINVAL,
          format!("exact range [{start:#x}, {end:#x}) is not aligned to the min block size {min_block:#x}"),
        );
      }
      return match self.alloc_exact(self.roots.clone(), start, size, false) {
        Ok(ids) => Ok(ids.iter().map(|&id| f(self.block(id))).collect()),
        Err(_) => fail(Errno::ENOSPC, format!("[{start:#x}, {end:#x}) is not free")),
      };
    }
    let no_space = || -> Result<()> {
      fail(
        Errno::ENOSPC,
        format!("no space for {size:#x} bytes (min block {min_block:#x})"),
      )
    };
    // u128: rounding up may pass 2^64.
    let (rounded, min_rounded) = if flags & CONTIGUOUS != 0 {
      let r = (size as u128).next_power_of_two();
      (r, r)
    } else {
      let m = min_block as u128;
      ((size as u128).div_ceil(m) * m, m)
    };
    let mut pages = rounded >> self.shift;
    let top = pages.ilog2();
    if top > self.max_order {
      // A 2026 kernel fix: EINVAL instead of a BUG, unless a plain contiguous
      // request can still be met by the fallback.
      if flags & CONTIGUOUS != 0 && flags & RANGE == 0 {
        return match self.contig_try_harder(size, min_block) {
          Some(ids) => Ok(ids.iter().map(|&id| f(self.block(id))).collect()),
          None => no_space().map(|()| Vec::new()),
        };
      }
      return fail(
        Errno::EINVAL,
        format!(
          "size {size:#x} rounds up past the largest block (order {})",
          self.max_order
        ),
      );
    }
    let min_order = min_rounded.ilog2() - self.shift;
    let mut order = top;
    // The scratch list of this allocation, reused for its capacity.
    let mut taken = std::mem::take(&mut self.taken);
    taken.clear();
    let picked = 'pick: {
      while pages != 0 {
        order = order.min(pages.ilog2());
        let id = loop {
          if let Some(id) = self.alloc_one(start, end, order, flags) {
            break id;
          }
          if order == min_order {
            // Unmerged cleared/dirty buddies may add up to the block needed.
            if self.clear_avail != 0 && self.force_merge(start, end, min_order) {
              if let Some(id) = self.alloc_one(start, end, min_order, flags) {
                break id;
              }
            }
            self.release_all(&taken);
            taken.clear();
            if flags & CONTIGUOUS != 0 && flags & RANGE == 0 {
              // Only one block is ever asked for here, so nothing was held.
              match self.contig_try_harder(size, min_block) {
                Some(ids) => {
                  taken.extend(ids);
                  break 'pick Ok(());
                }
                None => break 'pick no_space(),
              }
            }
            break 'pick no_space();
          }
          order = if flags & RANGE == 0 {
            // The free lists have no block of `order` or more, so every
            // order down to the largest block they have fails as well.
            let lower = (self.index.orders(0) | self.index.orders(1)) & ((1u64 << order) - 1);
            lower.checked_ilog2().map_or(min_order, |o| o.max(min_order))
          } else {
            order - 1
          };
        };
        self.mark_allocated(id);
        taken.push(id);
        pages -= 1u128 << order;
      }
      if flags & TRIM_DISABLE == 0 && rounded != size as u128 {
        // Only the last block carries the excess.
        let excess = (rounded - size as u128) as u64;
        if let Some(last) = taken.pop() {
          let keep = if taken.is_empty() {
            size
          } else {
            self.block_size(last) - excess
          };
          let pieces = self.trim_node(last, keep);
          taken.extend(pieces);
        }
      }
      Ok(())
    };
    let blocks = picked.map(|()| taken.iter().map(|&id| f(self.block(id))).collect());
    self.taken = taken;
    blocks
  }

  fn allocated_id(&self, offset: u64) -> Result<u32> {
    let found = self.index.allocated_candidate(offset).filter(|&id| {
      let n = &self.nodes[id as usize];
      n.state == State::Allocated && n.offset == offset
    });
    match found {
      Some(id) => Ok(id),
      None => fail(Errno::EINVAL, format!("no allocated block starts at {offset:#x}")),
    }
  }

  /// `drm_buddy_free_list` without flags: the blocks come back dirty.
  pub fn free_blocks(&mut self, offsets: &[u64]) -> Result<()> {
    self.free_blocks_marked(offsets, false)
  }

  /// `drm_buddy_free_list`, with `cleared` for `DRM_BUDDY_CLEARED` (the
  /// blocks were zeroed) and otherwise marking them dirty. Every offset must
  /// name an allocated block, once; otherwise nothing is freed.
  pub fn free_blocks_marked(&mut self, offsets: &[u64], cleared: bool) -> Result<()> {
    self.free_each(offsets.iter().copied(), cleared)
  }

  /// `free_blocks_marked` over any list of offsets (walked twice: checked,
  /// then freed).
  pub fn free_each(&mut self, offsets: impl Iterator<Item = u64> + Clone, cleared: bool) -> Result<()> {
    let mut ids = std::mem::take(&mut self.taken);
    ids.clear();
    // Offsets in ascending order (a manager's resource) cannot repeat;
    // otherwise short lists are checked for repeats pairwise.
    let mut prev = None;
    let ascending = offsets.clone().all(|o| prev.replace(o).is_none_or(|p| p < o));
    let mut seen = FxHashSet::default();
    for (i, off) in offsets.clone().enumerate() {
      let id = match self.allocated_id(off) {
        Ok(id) => id,
        Err(e) => {
          self.taken = ids;
          return Err(e);
        }
      };
      let repeated = if ascending {
        false
      } else if i < 32 {
        offsets.clone().take(i).any(|o| o == off)
      } else {
        if seen.is_empty() {
          seen.extend(offsets.clone().take(i));
        }
        !seen.insert(off)
      };
      if repeated {
        self.taken = ids;
        return fail(Errno::EINVAL, format!("block at {off:#x} is listed twice"));
      }
      ids.push(id);
    }
    for &id in &ids {
      self.nodes[id as usize].clear = cleared;
      self.release(id);
    }
    self.taken = ids;
    Ok(())
  }

  /// `drm_buddy_block_trim` on one allocated block: keeps its first
  /// `new_size` bytes, frees the rest, returns the pieces kept.
  pub fn trim(&mut self, offset: u64, new_size: u64) -> Result<Vec<Block>> {
    let id = self.allocated_id(offset)?;
    let bsize = self.block_size(id);
    if new_size > bsize {
      return fail(
        Errno::EINVAL,
        format!("new size {new_size:#x} is larger than the block ({bsize:#x})"),
      );
    }
    if new_size == 0 || new_size & (self.chunk - 1) != 0 {
      return fail(
        Errno::EINVAL,
        format!(
          "new size {new_size:#x} must be a non-zero multiple of the chunk size {:#x}",
          self.chunk
        ),
      );
    }
    let ids = self.trim_node(id, new_size);
    Ok(ids.iter().map(|&id| self.block(id)).collect())
  }

  /// Free blocks in address order.
  pub fn free_list(&self) -> Vec<Block> {
    self.leaves(State::Free)
  }

  /// Allocated blocks in address order.
  pub fn allocated_list(&self) -> impl Iterator<Item = Block> + '_ {
    self.leaves(State::Allocated).into_iter()
  }

  /// The blocks in `state`, in address order: a walk of the block tree.
  fn leaves(&self, state: State) -> Vec<Block> {
    let mut out = Vec::new();
    let mut stack: Vec<u32> = self.roots.iter().rev().copied().collect();
    while let Some(id) = stack.pop() {
      let n = &self.nodes[id as usize];
      if n.state == State::Split {
        stack.push(n.right);
        stack.push(n.left);
      } else if n.state == state {
        out.push(self.block(id));
      }
    }
    out
  }

  pub fn stats(&self) -> BuddyStats {
    let orders = self.index.orders(0) | self.index.orders(1);
    let largest = if orders == 0 {
      0
    } else {
      self.chunk << orders.ilog2()
    };
    BuddyStats {
      size: self.size,
      avail: self.avail,
      clear_avail: self.clear_avail,
      used: self.size - self.avail,
      largest_free: largest,
      free_blocks: self.index.free_len(),
      allocated_blocks: self.index.allocated_len(),
    }
  }
}

#[cfg(test)]
mod tests;
