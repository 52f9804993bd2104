//! A list ordered by sequence number that only ever grows at its tail: the
//! shape of an LRU whose positions are handed out by one rising counter.
//! It keeps entries in a vector in seq order; a removal leaves a hole that
//! a later compaction drops. Insertion is a push, removal a binary search,
//! and "the first entry at or after seq s" (where an LRU walk resumes,
//! whatever moved meanwhile) a binary search too: no node to keep valid.

/// Holes tolerated before a compaction, beyond one per live entry.
const SLACK: usize = 16;

#[derive(Clone, Debug)]
pub(crate) struct SeqList<T> {
  /// Ascending seqs; `None` is a removed entry.
  items: Vec<(u64, Option<T>)>,
  /// `items[..head]` are all removed.
  head: usize,
  live: usize,
}

impl<T> Default for SeqList<T> {
  fn default() -> Self {
    SeqList {
      items: Vec::new(),
      head: 0,
      live: 0,
    }
  }
}

impl<T: Copy> SeqList<T> {
  pub fn len(&self) -> usize {
    self.live
  }

  pub fn is_empty(&self) -> bool {
    self.live == 0
  }

  pub fn heap_bytes(&self) -> usize {
    self.items.capacity() * size_of::<(u64, Option<T>)>()
  }

  /// Appends at the tail: `seq` must be above every seq the list has held
  /// since it was last empty.
  pub fn push(&mut self, seq: u64, v: T) {
    debug_assert!(self.items.last().is_none_or(|l| l.0 < seq));
    self.items.push((seq, Some(v)));
    self.live += 1;
  }

  fn index_from(&self, from: u64) -> usize {
    // An eviction walk starts at the head and takes its victims from there: no search for those.
    match self.items.get(self.head) {
      Some(e) if e.0 >= from => self.head,
      _ => self.head + self.items[self.head..].partition_point(|e| e.0 < from),
    }
  }

  /// Removes the entry at `seq`, if there is one.
  pub fn remove(&mut self, seq: u64) -> Option<T> {
    let i = self.index_from(seq);
    let e = self.items.get_mut(i).filter(|e| e.0 == seq)?;
    let v = e.1.take()?;
    self.live -= 1;
    if self.live == 0 {
      self.items.clear();
      self.head = 0;
      return Some(v);
    }
    if i == self.head {
      while self.items[self.head].1.is_none() {
        self.head += 1;
      }
    }
    while self.items.last().is_some_and(|e| e.1.is_none()) {
      self.items.pop();
    }
    if self.items.len() - self.live > self.live + SLACK {
      self.items.retain(|e| e.1.is_some());
      self.head = 0;
    }
    Some(v)
  }

  /// The first entry whose seq is `from` or above.
  pub fn first_from(&self, from: u64) -> Option<(u64, T)> {
    self.items[self.index_from(from)..]
      .iter()
      .find_map(|&(s, v)| v.map(|v| (s, v)))
  }

  /// Live entries in seq order.
  #[cfg(test)]
  pub fn iter(&self) -> impl Iterator<Item = (u64, T)> + '_ {
    self.items[self.head..]
      .iter()
      .filter_map(|&(s, v)| v.map(|v| (s, v)))
  }
}

#[cfg(test)]
mod tests;
