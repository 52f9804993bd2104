use super::Bits;
use crate::lcg::Lcg;
use std::collections::BTreeSet;

#[test]
fn agrees_with_a_btreeset_under_random_operations() {
  for (seed, n) in [
    (1u64, 1usize),
    (2, 63),
    (3, 64),
    (4, 65),
    (5, 4096),
    (6, 4097),
    (7, 300_000),
  ] {
    let mut rng = Lcg(seed);
    let (mut bits, mut model) = (Bits::new(n), BTreeSet::new());
    for step in 0..20_000 {
      // Dense runs near one end or the other now and then, to empty whole words.
      let i = match step % 7 {
        0 => rng.below(n.min(130) as u64) as usize,
        1 => n - 1 - rng.below(n.min(130) as u64) as usize,
        _ => rng.below(n as u64) as usize,
      };
      if rng.below(2) == 0 {
        assert_eq!(bits.insert(i), model.insert(i), "insert {i} (n {n})");
      } else {
        assert_eq!(bits.remove(i), model.remove(&i), "remove {i} (n {n})");
      }
      assert_eq!(bits.len(), model.len());
      assert_eq!(bits.is_empty(), model.is_empty());
      assert_eq!(bits.last(), model.last().copied());
      let b = rng.below(n as u64 + 2) as usize;
      assert_eq!(bits.below(b), model.range(..b).next_back().copied(), "below {b}");
      assert_eq!(bits.contains(b), model.contains(&b));
    }
    assert!(bits.iter().eq(model.iter().copied()));
  }
}

#[test]
fn walks_down_from_the_top_below_each_member() {
  let mut bits = Bits::new(1 << 20);
  let members = [0usize, 1, 63, 64, 4095, 4096, 262_143, 262_144, (1 << 20) - 1];
  for &m in &members {
    assert!(bits.insert(m));
  }
  let mut below = usize::MAX;
  let mut seen = Vec::new();
  while let Some(m) = bits.below(below) {
    seen.push(m);
    below = m;
  }
  seen.reverse();
  assert_eq!(seen, members);
  for &m in &members {
    assert!(bits.remove(m));
    assert!(!bits.remove(m));
  }
  assert_eq!((bits.last(), bits.len()), (None, 0));
  assert!(!bits.remove(1 << 21), "past the bound is never a member");
}
