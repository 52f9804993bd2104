//! The device's GEM object records by id. Callers hand out dense ids (1, 2,
//! ...), so records live in a vector indexed by `id - 1`: a lookup is an
//! index, not a tree search. An id far beyond the records held (a hostile
//! or sparse one, up to `u32::MAX`) goes to an ordered map instead, so no
//! id can make the vector huge: it only grows to ids within about twice
//! the number of records. Iteration is in id order either way.

use std::collections::BTreeMap;

/// Ids up to this many beyond twice the records held stay in the vector.
const DENSE_SLACK: usize = 1024;

#[derive(Debug)]
pub(crate) struct Table<T> {
  /// Slot `id - 1`; every id at or below `dense.len()` lives here.
  dense: Vec<Option<T>>,
  /// Ids above `dense.len()`.
  sparse: BTreeMap<u32, T>,
  len: usize,
}

impl<T> Default for Table<T> {
  fn default() -> Self {
    Table {
      dense: Vec::new(),
      sparse: BTreeMap::new(),
      len: 0,
    }
  }
}

impl<T> Table<T> {
  pub fn is_empty(&self) -> bool {
    self.len == 0
  }

  pub fn heap_bytes(&self) -> usize {
    crate::heap::vec(&self.dense) + crate::heap::btree::<u32, T>(self.sparse.len())
  }

  #[inline]
  pub fn get(&self, id: u32) -> Option<&T> {
    match self.dense.get((id as usize).wrapping_sub(1)) {
      Some(slot) => slot.as_ref(),
      None if self.sparse.is_empty() => None,
      None => self.sparse.get(&id),
    }
  }

  #[inline]
  pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
    match self.dense.get_mut((id as usize).wrapping_sub(1)) {
      Some(slot) => slot.as_mut(),
      None if self.sparse.is_empty() => None,
      None => self.sparse.get_mut(&id),
    }
  }

  /// Sets the record of `id` (0 is not an id: callers refuse it first).
  pub fn insert(&mut self, id: u32, v: T) {
    debug_assert!(id != 0);
    let i = (id as usize).wrapping_sub(1);
    if i >= self.dense.len() && i < 2 * self.len + DENSE_SLACK {
      // Grow, and take in the sparse ids the vector now covers.
      self.dense.resize_with(i + 1, || None);
      let covered: Vec<u32> = self.sparse.range(..=id).map(|(&k, _)| k).collect();
      for k in covered {
        self.dense[k as usize - 1] = self.sparse.remove(&k);
      }
    }
    let old = match self.dense.get_mut(i) {
      Some(slot) => slot.replace(v),
      None => self.sparse.insert(id, v),
    };
    if old.is_none() {
      self.len += 1;
    }
  }

  /// Records in id order.
  pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
    let dense = self
      .dense
      .iter()
      .enumerate()
      .filter_map(|(i, v)| v.as_ref().map(|v| (i as u32 + 1, v)));
    dense.chain(self.sparse.iter().map(|(&k, v)| (k, v)))
  }
}

#[cfg(test)]
mod tests;
