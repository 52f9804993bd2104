use super::SeqList;
use crate::lcg::Lcg;
use std::collections::BTreeMap;

fn check(l: &SeqList<u32>, m: &BTreeMap<u64, u32>, probes: &[u64]) {
  assert_eq!(l.len(), m.len());
  assert_eq!(l.is_empty(), m.is_empty());
  assert!(l.iter().eq(m.iter().map(|(&s, &v)| (s, v))));
  assert_eq!(l.items.get(l.head).and_then(|e| e.1), m.values().next().copied());
  for &p in probes {
    assert_eq!(l.first_from(p), m.range(p..).next().map(|(&s, &v)| (s, v)));
  }
}

/// Random pushes, removals (present, absent, repeated) and lookups
/// against a BTreeMap, as the LRU used before: same answers throughout.
#[test]
fn agrees_with_an_ordered_map() {
  for seed in 1..=40u64 {
    let mut rng = Lcg(seed);
    let (mut l, mut m) = (SeqList::default(), BTreeMap::new());
    let mut seq = 0u64;
    let width = 1 + rng.below(200);
    for step in 0..3000u32 {
      match rng.below(10) {
        0..=3 => {
          seq += 1 + rng.below(3);
          l.push(seq, step);
          m.insert(seq, step);
        }
        4..=7 if !m.is_empty() => {
          // Mostly the oldest entries, as an eviction walk takes them.
          let k = rng.below(width).min(m.len() as u64 - 1) as usize;
          let s = *m.keys().nth(k).unwrap();
          assert_eq!(l.remove(s), m.remove(&s));
        }
        _ => {
          let s = rng.below(seq + 2);
          assert_eq!(l.remove(s), m.remove(&s));
        }
      }
      if step % 7 == 0 {
        let probes = [0, rng.below(seq + 2), rng.below(seq + 2), seq, seq + 1];
        check(&l, &m, &probes);
      }
      assert!(l.items.len() - l.live <= l.live + super::SLACK);
    }
    check(&l, &m, &[0, seq / 2, seq]);
  }
}

#[test]
fn empties_and_starts_again() {
  let mut l = SeqList::default();
  l.push(5, 1u32);
  l.push(9, 2);
  assert_eq!(l.remove(7), None);
  assert_eq!(l.remove(5), Some(1));
  assert_eq!(l.remove(5), None);
  assert_eq!(l.first_from(0), Some((9, 2)));
  assert_eq!(l.first_from(6), Some((9, 2)));
  assert_eq!(l.first_from(10), None);
  assert_eq!(l.remove(9), Some(2));
  assert!(l.is_empty() && l.items.is_empty());
  assert_eq!(l.first_from(0), None);
  l.push(1, 3);
  assert_eq!(l.iter().collect::<Vec<_>>(), [(1, 3)]);
}
