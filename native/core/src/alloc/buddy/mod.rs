//! A `drm_buddy`-style allocator: power-of-two blocks of `chunk << order`
//! bytes, split on demand and merged back with their buddy when both are free.
//!
//! A size that is not a power of two gets one root per set bit, largest
//! first. Free blocks are kept per order, sorted by offset; like the kernel,
//! plain allocation takes the highest-offset block of the smallest order that
//! fits and keeps the right half of every split. Clear/dirty tracking is not
//! modelled, so every pair of free buddies merges.
//!
//! Allocated blocks are named by their offset, unique among allocated blocks.

use crate::errno::{fail, Errno, Result};
use std::collections::{BTreeMap, BTreeSet};

/// `DRM_BUDDY_RANGE_ALLOCATION`: stay inside `[start, end)`.
pub const RANGE: u32 = 1 << 0;
/// `DRM_BUDDY_TOPDOWN_ALLOCATION`: the highest free block.
pub const TOPDOWN: u32 = 1 << 1;
/// `DRM_BUDDY_CONTIGUOUS_ALLOCATION`: one run (rounded up to a power of two, then trimmed).
pub const CONTIGUOUS: u32 = 1 << 2;
/// `DRM_BUDDY_TRIM_DISABLE`: keep the rounded-up tail.
pub const TRIM_DISABLE: u32 = 1 << 5;
const KNOWN_FLAGS: u32 = RANGE | TOPDOWN | CONTIGUOUS | TRIM_DISABLE;

/// `DRM_BUDDY_MAX_ORDER`: 64-bit offsets of 4 KiB chunks.
pub const MAX_ORDER: u32 = 63 - 12;
pub const MIN_CHUNK: u64 = 4096;

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
  Free,
  Allocated,
  Split,
}

#[derive(Clone, Copy, Debug)]
struct Node {
  offset: u64,
  order: u32,
  state: State,
  parent: u32,
  left: u32,
  right: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
  pub offset: u64,
  pub order: u32,
  pub size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuddyStats {
  pub size: u64,
  pub avail: u64,
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

#[derive(Clone, Debug)]
pub struct Buddy {
  size: u64,
  chunk: u64,
  shift: u32,
  max_order: u32,
  avail: u64,
  nodes: Vec<Node>,
  free_slots: Vec<u32>,
  roots: Vec<u32>,
  /// Per order: offset -> node, the free blocks.
  free: Vec<BTreeMap<u64, u32>>,
  allocated: BTreeMap<u64, u32>,
}

impl Buddy {
  /// Heap bytes held, estimated (`crate::heap`).
  pub fn heap_bytes(&self) -> usize {
    use crate::heap::{btree, vec};
    let free: usize = self.free.iter().map(|f| f.len()).sum();
    vec(&self.nodes)
      + vec(&self.free_slots)
      + vec(&self.roots)
      + vec(&self.free)
      + btree::<u64, u32>(free + self.allocated.len())
  }
}

impl Buddy {
  /// `drm_buddy_init`. The size is rounded down to a multiple of the chunk.
  pub fn new(size: u64, chunk: u64) -> Result<Buddy> {
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
      nodes: Vec::new(),
      free_slots: Vec::new(),
      roots: Vec::new(),
      free: vec![BTreeMap::new(); max_order as usize + 1],
      allocated: BTreeMap::new(),
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

  fn new_node(&mut self, parent: u32, order: u32, offset: u64) -> u32 {
    let n = Node {
      offset,
      order,
      state: State::Free,
      parent,
      left: NIL,
      right: NIL,
    };
    match self.free_slots.pop() {
      Some(id) => {
        self.nodes[id as usize] = n;
        id
      }
      None => {
        self.nodes.push(n);
        (self.nodes.len() - 1) as u32
      }
    }
  }

  fn block_size(&self, id: u32) -> u64 {
    self.chunk << self.nodes[id as usize].order
  }

  fn block(&self, id: u32) -> Block {
    let n = &self.nodes[id as usize];
    Block {
      offset: n.offset,
      order: n.order,
      size: self.chunk << n.order,
    }
  }

  fn mark_free(&mut self, id: u32) {
    let n = &mut self.nodes[id as usize];
    n.state = State::Free;
    self.free[n.order as usize].insert(n.offset, id);
  }

  fn unlist(&mut self, id: u32) {
    let n = self.nodes[id as usize];
    if n.state == State::Free {
      self.free[n.order as usize].remove(&n.offset);
    }
  }

  fn mark_allocated(&mut self, id: u32) {
    self.unlist(id);
    let n = &mut self.nodes[id as usize];
    n.state = State::Allocated;
    self.allocated.insert(n.offset, id);
    self.avail -= self.chunk << n.order;
  }

  fn split(&mut self, id: u32) {
    let Node { offset, order, .. } = self.nodes[id as usize];
    let left = self.new_node(id, order - 1, offset);
    let right = self.new_node(id, order - 1, offset + (self.chunk << (order - 1)));
    self.mark_free(left);
    self.mark_free(right);
    self.unlist(id);
    let n = &mut self.nodes[id as usize];
    n.state = State::Split;
    n.left = left;
    n.right = right;
  }

  /// Frees an allocated block and merges it upwards while its buddy is free.
  fn release(&mut self, mut id: u32) {
    let offset = self.nodes[id as usize].offset;
    self.allocated.remove(&offset);
    self.avail += self.block_size(id);
    self.nodes[id as usize].state = State::Split; // neither free nor allocated while merging
    loop {
      let parent = self.nodes[id as usize].parent;
      if parent == NIL {
        break;
      }
      let p = self.nodes[parent as usize];
      let buddy = if p.left == id { p.right } else { p.left };
      if self.nodes[buddy as usize].state != State::Free {
        break;
      }
      self.unlist(buddy);
      self.free_slots.push(id);
      self.free_slots.push(buddy);
      let p = &mut self.nodes[parent as usize];
      p.left = NIL;
      p.right = NIL;
      id = parent;
    }
    self.mark_free(id);
  }

  fn release_all(&mut self, ids: &[u32]) {
    for &id in ids {
      self.release(id);
    }
  }

  /// A free block of exactly `order`, split from the free lists.
  fn alloc_from_free(&mut self, order: u32, flags: u32) -> Option<u32> {
    let mut pick: Option<(u64, u32, u32)> = None;
    for o in order..=self.max_order {
      if let Some((&off, &id)) = self.free[o as usize].last_key_value() {
        if flags & TOPDOWN == 0 {
          pick = Some((off, id, o));
          break;
        }
        if pick.is_none_or(|(best, _, _)| off > best) {
          pick = Some((off, id, o));
        }
      }
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
  fn alloc_range_bias(&mut self, start: u64, end: u64, order: u32) -> Option<u32> {
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
  fn alloc_exact(
    &mut self,
    from: Vec<u32>,
    start: u64,
    size: u64,
    keep_partial: bool,
  ) -> std::result::Result<Vec<u32>, (Vec<u32>, u64)> {
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
        // Without clear tracking a split block always has an allocated descendant.
        if n.state != State::Free {
          ok = false;
          break;
        }
        self.mark_allocated(id);
        total += self.block_size(id);
        taken.push(id);
        continue;
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

  /// The kernel's fallback for CONTIGUOUS without RANGE: for each free block
  /// of the rounded-down order, highest first, take what is free to its right
  /// and the rest just to its left.
  fn contig_try_harder(&mut self, size: u64, min_block: u64) -> Option<Vec<u32>> {
    let order = size.ilog2() - self.shift;
    if order == 0 || order > self.max_order {
      return None;
    }
    // Each failed round frees what it took, which restores the free lists
    // exactly, so walking them by offset matches the kernel's list walk.
    let mut below: Option<u64> = None;
    loop {
      let list = &self.free[order as usize];
      let next = match below {
        None => list.last_key_value(),
        Some(b) => list.range(..b).next_back(),
      };
      let (&rhs, _) = next?;
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

  /// Frees the block and re-allocates only `[offset, offset + new_size)` of it.
  fn trim_node(&mut self, id: u32, new_size: u64) -> Vec<u32> {
    if new_size == self.block_size(id) {
      return vec![id];
    }
    let offset = self.nodes[id as usize].offset;
    self.allocated.remove(&offset);
    self.avail += self.block_size(id);
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
        Ok(ids) => Ok(ids.iter().map(|&id| self.block(id)).collect()),
        Err(_) => fail(Errno::ENOSPC, format!("[{start:#x}, {end:#x}) is not free")),
      };
    }
    let no_space = || {
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
          Some(ids) => Ok(ids.iter().map(|&id| self.block(id)).collect()),
          None => no_space(),
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
    let mut taken: Vec<u32> = Vec::new();
    while pages != 0 {
      order = order.min(pages.ilog2());
      let id = loop {
        let got = if flags & RANGE != 0 {
          self.alloc_range_bias(start, end, order)
        } else {
          self.alloc_from_free(order, flags)
        };
        if let Some(id) = got {
          break id;
        }
        if order == min_order {
          if flags & CONTIGUOUS != 0 && flags & RANGE == 0 {
            // Only one block is ever asked for here, so nothing is held yet.
            self.release_all(&taken);
            return match self.contig_try_harder(size, min_block) {
              Some(ids) => Ok(ids.iter().map(|&id| self.block(id)).collect()),
              None => no_space(),
            };
          }
          self.release_all(&taken);
          return no_space();
        }
        order -= 1;
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
    Ok(taken.iter().map(|&id| self.block(id)).collect())
  }

  fn allocated_id(&self, offset: u64) -> Result<u32> {
    match self.allocated.get(&offset) {
      Some(&id) => Ok(id),
      None => fail(Errno::EINVAL, format!("no allocated block starts at {offset:#x}")),
    }
  }

  /// `drm_buddy_free_list`. Every offset must name an allocated block, once;
  /// otherwise nothing is freed.
  pub fn free_blocks(&mut self, offsets: &[u64]) -> Result<()> {
    let mut seen = BTreeSet::new();
    let mut ids = Vec::with_capacity(offsets.len());
    for &off in offsets {
      let id = self.allocated_id(off)?;
      if !seen.insert(off) {
        return fail(Errno::EINVAL, format!("block at {off:#x} is listed twice"));
      }
      ids.push(id);
    }
    self.release_all(&ids);
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
    let mut v: Vec<Block> = self
      .free
      .iter()
      .flat_map(|m| m.values().map(|&id| self.block(id)))
      .collect();
    v.sort_unstable_by_key(|b| b.offset);
    v
  }

  /// Allocated blocks in address order.
  pub fn allocated_list(&self) -> impl Iterator<Item = Block> + '_ {
    self.allocated.values().map(|&id| self.block(id))
  }

  pub fn stats(&self) -> BuddyStats {
    let largest = self
      .free
      .iter()
      .rposition(|m| !m.is_empty())
      .map_or(0, |o| self.chunk << o);
    BuddyStats {
      size: self.size,
      avail: self.avail,
      used: self.size - self.avail,
      largest_free: largest,
      free_blocks: self.free.iter().map(|m| m.len()).sum(),
      allocated_blocks: self.allocated.len(),
    }
  }
}

#[cfg(test)]
mod tests;
