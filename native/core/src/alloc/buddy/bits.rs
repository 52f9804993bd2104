//! A set of integers below a fixed bound as a bitmap with summary levels
//! (bit `i` of a level is set when word `i` of the level below is not
//! zero): insert, remove, the largest member and the largest member below a
//! bound each touch one word per level, and there are few levels (three for
//! 2^18 members). The buddy's free lists use it per order when the buddy is
//! small enough for its bitmaps (`index`).

#[derive(Clone, Debug)]
pub(super) struct Bits {
  /// `levels[0]` the members, the last level a single word.
  levels: Vec<Vec<u64>>,
  len: usize,
}

/// The highest set bit of a non-zero word.
fn top(w: u64) -> usize {
  63 - w.leading_zeros() as usize
}

impl Bits {
  /// An empty set with room for `0..n`.
  pub(super) fn new(n: usize) -> Bits {
    let mut levels = Vec::new();
    let mut words = n.div_ceil(64).max(1);
    loop {
      levels.push(vec![0u64; words]);
      if words == 1 {
        break;
      }
      words = words.div_ceil(64);
    }
    Bits { levels, len: 0 }
  }

  #[cfg(test)]
  pub(super) fn len(&self) -> usize {
    self.len
  }

  pub(super) fn is_empty(&self) -> bool {
    self.len == 0
  }

  #[cfg(test)]
  pub(super) fn contains(&self, i: usize) -> bool {
    self.levels[0].get(i >> 6).is_some_and(|w| w >> (i & 63) & 1 != 0)
  }

  /// Adds `i`; false when it was there already.
  pub(super) fn insert(&mut self, i: usize) -> bool {
    let w = &mut self.levels[0][i >> 6];
    let was = *w;
    *w |= 1 << (i & 63);
    if was == *w {
      return false;
    }
    self.len += 1;
    let (mut i, mut was) = (i >> 6, was);
    for level in &mut self.levels[1..] {
      if was != 0 {
        break;
      }
      let w = &mut level[i >> 6];
      was = *w;
      *w |= 1 << (i & 63);
      i >>= 6;
    }
    true
  }

  /// Takes `i` out; false when it was not there.
  pub(super) fn remove(&mut self, i: usize) -> bool {
    let Some(w) = self.levels[0].get_mut(i >> 6) else {
      return false;
    };
    if *w >> (i & 63) & 1 == 0 {
      return false;
    }
    *w &= !(1 << (i & 63));
    self.len -= 1;
    let (mut i, mut now) = (i >> 6, *w);
    for level in &mut self.levels[1..] {
      if now != 0 {
        break;
      }
      let w = &mut level[i >> 6];
      *w &= !(1 << (i & 63));
      now = *w;
      i >>= 6;
    }
    true
  }

  /// The largest member below `b`.
  pub(super) fn below(&self, b: usize) -> Option<usize> {
    let mut end = b.min(self.levels[0].len() * 64);
    for k in 0..self.levels.len() {
      if end == 0 {
        return None;
      }
      let last = end - 1;
      let w = self.levels[k][last >> 6] & (u64::MAX >> (63 - (last & 63)));
      if w != 0 {
        let mut at = (last & !63) | top(w);
        for level in self.levels[..k].iter().rev() {
          at = at * 64 + top(level[at]);
        }
        return Some(at);
      }
      // Nothing in this word up to `last`: look at the words before it.
      end = last >> 6;
    }
    None
  }

  /// The largest member: straight down from the top word.
  pub(super) fn last(&self) -> Option<usize> {
    if self.len == 0 {
      return None;
    }
    let mut at = 0;
    for level in self.levels.iter().rev() {
      at = at * 64 + top(level[at]);
    }
    Some(at)
  }

  /// The members in ascending order.
  pub(super) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
    self.levels[0].iter().enumerate().flat_map(|(wi, &w)| {
      let mut w = w;
      std::iter::from_fn(move || {
        if w == 0 {
          return None;
        }
        let b = w.trailing_zeros() as usize;
        w &= w - 1;
        Some(wi * 64 + b)
      })
    })
  }

  pub(super) fn heap_bytes(&self) -> usize {
    self.levels.iter().map(crate::heap::vec).sum::<usize>() + crate::heap::vec(&self.levels)
  }
}

#[cfg(test)]
mod tests;
