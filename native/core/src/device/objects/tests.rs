use super::Table;
use crate::lcg::Lcg;
use std::collections::BTreeMap;

/// Dense runs, re-inserted ids and hostile ones up to u32::MAX, against
/// a BTreeMap: same lookups and id-ordered listing, a bounded vector.
#[test]
fn agrees_with_an_ordered_map() {
  for seed in 1..=30u64 {
    let mut rng = Lcg(seed);
    let (mut t, mut m) = (Table::default(), BTreeMap::new());
    let mut next = 1u32;
    for step in 0..2000u64 {
      let id = match rng.below(10) {
        0..=5 => {
          next += 1;
          next - 1
        }
        6 => 1 + rng.below(u64::from(next) + 5) as u32,
        7 => u32::MAX - rng.below(3) as u32,
        8 => 1 + rng.below(1 << 20) as u32,
        _ => u32::MAX / 2 + rng.below(1 << 16) as u32,
      };
      t.insert(id, step);
      m.insert(id, step);
      assert_eq!(t.len, m.len());
      for probe in [
        id,
        id.wrapping_add(1),
        0,
        next,
        rng.below(1 << 21) as u32,
        u32::MAX,
      ] {
        assert_eq!(t.get(probe), m.get(&probe));
      }
      if let Some(v) = t.get_mut(id) {
        *v += 1;
        *m.get_mut(&id).unwrap() += 1;
      }
      assert!(t.dense.len() <= 2 * t.len + super::DENSE_SLACK);
    }
    assert!(t.iter().map(|(k, &v)| (k, v)).eq(m.iter().map(|(&k, &v)| (k, v))));
    assert!(t.sparse.keys().all(|&k| k as usize > t.dense.len()));
  }
}

#[test]
fn a_hostile_id_allocates_nothing_large() {
  let mut t = Table::default();
  t.insert(u32::MAX, 'a');
  t.insert(1 << 31, 'b');
  assert!(t.dense.is_empty());
  assert_eq!(t.get(u32::MAX), Some(&'a'));
  assert_eq!(t.get(0), None);
  t.insert(1, 'c');
  assert_eq!(t.dense.len(), 1);
  assert_eq!(
    t.iter().map(|(k, _)| k).collect::<Vec<_>>(),
    [1, 1 << 31, u32::MAX]
  );
}
