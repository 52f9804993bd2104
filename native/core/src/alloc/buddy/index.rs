//! Where the buddy finds its blocks by offset: the free lists (per clear
//! state and order, ordered by offset: the highest, the highest below a
//! bound) and the allocated blocks.
//!
//! A buddy of up to `DENSE_PAGES` chunks keeps, per list, a bitmap over the
//! aligned block slots of that order (`Bits`) and one table from chunk index
//! to the last block listed or allocated at that offset (blocks that are free
//! or allocated never share an offset, so the entry of a listed or allocated
//! block is its own). A larger buddy keeps ordered maps and a hash map, whose
//! memory follows the number of blocks rather than the size.

use super::bits::Bits;
use super::tree::NIL;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// The largest buddy, in chunks, indexed by bitmaps: 4 MiB of table and
/// 512 KiB of bitmaps at most.
const DENSE_PAGES: u64 = 1 << 20;

#[derive(Clone, Debug)]
enum Lists {
  Dense {
    /// Per free tree, per order: the slot indices (offset >> (shift + order)).
    sets: [Vec<Bits>; 2],
    /// Chunk index -> the block last listed or allocated there.
    at: Vec<u32>,
  },
  Sparse {
    maps: [Vec<BTreeMap<u64, u32>>; 2],
    allocated: FxHashMap<u64, u32>,
  },
}

#[derive(Clone, Debug)]
pub(super) struct Index {
  shift: u32,
  lists: Lists,
  /// Per free tree: bit `o` set when the list of order `o` has a block.
  nonempty: [u64; 2],
  free: usize,
  allocated: usize,
}

impl Index {
  /// For a buddy of `size` bytes in chunks of `1 << shift`.
  pub(super) fn new(size: u64, shift: u32, max_order: u32) -> Index {
    Index::with_kind(size, shift, max_order, size >> shift <= DENSE_PAGES)
  }

  /// `new` with the bitmaps (`dense`) or the maps, whatever the size.
  pub(super) fn with_kind(size: u64, shift: u32, max_order: u32, dense: bool) -> Index {
    let pages = size >> shift;
    let orders = max_order as usize + 1;
    let lists = if dense {
      let per_order = || (0..orders).map(|o| Bits::new((pages >> o) as usize)).collect();
      Lists::Dense {
        sets: [per_order(), per_order()],
        at: vec![NIL; pages as usize],
      }
    } else {
      Lists::Sparse {
        maps: [vec![BTreeMap::new(); orders], vec![BTreeMap::new(); orders]],
        allocated: FxHashMap::default(),
      }
    };
    Index {
      shift,
      lists,
      nonempty: [0; 2],
      free: 0,
      allocated: 0,
    }
  }

  pub(super) fn heap_bytes(&self) -> usize {
    use crate::heap::{btree, vec};
    match &self.lists {
      Lists::Dense { sets, at } => {
        let bits: usize = sets.iter().flatten().map(Bits::heap_bytes).sum();
        bits + vec(&sets[0]) + vec(&sets[1]) + vec(at)
      }
      Lists::Sparse { maps, allocated } => {
        vec(&maps[0])
          + vec(&maps[1])
          + btree::<u64, u32>(self.free)
          + allocated.capacity() * (size_of::<(u64, u32)>() + 1)
      }
    }
  }

  /// Lists the free block `id` at `offset` in tree `t`, order `order`.
  pub(super) fn list(&mut self, t: usize, order: u32, offset: u64, id: u32) {
    match &mut self.lists {
      Lists::Dense { sets, at } => {
        sets[t][order as usize].insert((offset >> (self.shift + order)) as usize);
        at[(offset >> self.shift) as usize] = id;
      }
      Lists::Sparse { maps, .. } => {
        maps[t][order as usize].insert(offset, id);
      }
    }
    self.free += 1;
    self.nonempty[t] |= 1 << order;
  }

  pub(super) fn unlist(&mut self, t: usize, order: u32, offset: u64) {
    let now_empty = match &mut self.lists {
      Lists::Dense { sets, .. } => {
        let set = &mut sets[t][order as usize];
        set.remove((offset >> (self.shift + order)) as usize);
        set.is_empty()
      }
      Lists::Sparse { maps, .. } => {
        let map = &mut maps[t][order as usize];
        map.remove(&offset);
        map.is_empty()
      }
    };
    self.free -= 1;
    if now_empty {
      self.nonempty[t] &= !(1 << order);
    }
  }

  /// The free block of tree `t` and `order` with the highest offset below
  /// `below` (the highest of all for `None`).
  pub(super) fn below(&self, t: usize, order: u32, below: Option<u64>) -> Option<(u64, u32)> {
    if self.nonempty[t] >> order & 1 == 0 {
      return None;
    }
    match &self.lists {
      Lists::Dense { sets, at } => {
        let s = self.shift + order;
        let set = &sets[t][order as usize];
        let slot = match below {
          None => set.last(),
          // Slots below `b`: those whose offset is below it.
          Some(b) => set.below(usize::try_from(b.div_ceil(1 << s)).unwrap_or(usize::MAX)),
        }?;
        let offset = (slot as u64) << s;
        Some((offset, at[(offset >> self.shift) as usize]))
      }
      Lists::Sparse { maps, .. } => {
        let list = &maps[t][order as usize];
        let next = match below {
          None => list.last_key_value(),
          Some(b) => list.range(..b).next_back(),
        };
        next.map(|(&off, &id)| (off, id))
      }
    }
  }

  /// The lowest order from `order` up whose list in tree `t` has a block.
  pub(super) fn first_order(&self, t: usize, order: u32) -> Option<u32> {
    let m = self.nonempty[t].checked_shr(order).unwrap_or(0);
    (m != 0).then(|| order + m.trailing_zeros())
  }

  /// The orders whose list in tree `t` has a block, as a bit mask.
  pub(super) fn orders(&self, t: usize) -> u64 {
    self.nonempty[t]
  }

  /// The free blocks of tree `t` and `order`, by offset.
  pub(super) fn members(&self, t: usize, order: u32) -> Vec<(u64, u32)> {
    match &self.lists {
      Lists::Dense { sets, at } => sets[t][order as usize]
        .iter()
        .map(|slot| {
          let offset = (slot as u64) << (self.shift + order);
          (offset, at[(offset >> self.shift) as usize])
        })
        .collect(),
      Lists::Sparse { maps, .. } => maps[t][order as usize].iter().map(|(&o, &i)| (o, i)).collect(),
    }
  }

  pub(super) fn free_len(&self) -> usize {
    self.free
  }

  pub(super) fn allocated_len(&self) -> usize {
    self.allocated
  }

  pub(super) fn add_allocated(&mut self, offset: u64, id: u32) {
    match &mut self.lists {
      Lists::Dense { at, .. } => at[(offset >> self.shift) as usize] = id,
      Lists::Sparse { allocated, .. } => {
        allocated.insert(offset, id);
      }
    }
    self.allocated += 1;
  }

  pub(super) fn remove_allocated(&mut self, offset: u64) {
    if let Lists::Sparse { allocated, .. } = &mut self.lists {
      allocated.remove(&offset);
    }
    self.allocated -= 1;
  }

  /// The block that may be allocated at `offset`: with bitmaps, the last one
  /// listed or allocated there, which the caller must check.
  pub(super) fn allocated_candidate(&self, offset: u64) -> Option<u32> {
    match &self.lists {
      Lists::Dense { at, .. } => {
        let page = usize::try_from(offset >> self.shift).ok()?;
        at.get(page).copied().filter(|&id| id != NIL)
      }
      Lists::Sparse { allocated, .. } => allocated.get(&offset).copied(),
    }
  }
}
