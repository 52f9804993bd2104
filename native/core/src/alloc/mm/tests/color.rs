//! Colour guard, replace and the colour-aware eviction scan.

use super::super::{InsertMode, Mm};
use crate::errno::Errno;

const K: u64 = 4096;

fn ins(mm: &mut Mm, size: u64, color: u64, mode: InsertMode) -> Result<u64, Errno> {
  mm.insert(size, 0, color, 0, u64::MAX, mode)
    .map(|n| n.start)
    .map_err(|e| e.errno)
}

#[test]
fn guard_between_different_colours_only() {
  let mut mm = Mm::with_color_guard(0, 16 * K, K).unwrap();
  assert_eq!(ins(&mut mm, K, 1, InsertMode::Low), Ok(0));
  assert_eq!(ins(&mut mm, K, 2, InsertMode::Low), Ok(2 * K));
  assert_eq!(ins(&mut mm, K, 2, InsertMode::Low), Ok(3 * K));
  assert_eq!(ins(&mut mm, K, 1, InsertMode::Low), Ok(5 * K));
  // Top of the range: no guard against the range's edge.
  assert_eq!(ins(&mut mm, K, 3, InsertMode::High), Ok(15 * K));
  assert_eq!(ins(&mut mm, K, 4, InsertMode::High), Ok(13 * K));
  // The 1 KiB gap between colours 1 and 2 is unusable for colour 5.
  assert_eq!(
    mm.insert(K, 0, 5, 0, 2 * K, InsertMode::Best).unwrap_err().errno,
    Errno::ENOSPC
  );
  // Without a guard the same gap is free.
  let mut plain = Mm::new(0, 16 * K).unwrap();
  plain.reserve(0, K, 1).unwrap();
  plain.reserve(2 * K, K, 2).unwrap();
  assert_eq!(
    plain.insert(K, 0, 5, 0, 2 * K, InsertMode::Best).unwrap().start,
    K
  );
}

#[test]
fn guarded_reserve_and_range() {
  let mut mm = Mm::with_color_guard(0, 16 * K, K).unwrap();
  mm.reserve(0, K, 1).unwrap();
  assert_eq!(mm.reserve(K, K, 2).unwrap_err().errno, Errno::ENOSPC);
  assert_eq!(mm.reserve(K, K, 1).unwrap().start, K);
  // Range [2K, 4K) and colour 2: the first usable byte is 3K.
  assert_eq!(
    mm.insert(K, 0, 2, 2 * K, 4 * K, InsertMode::Low).unwrap().start,
    3 * K
  );
  assert_eq!(
    mm.insert(K, 0, 2, 2 * K, 4 * K, InsertMode::Low)
      .unwrap_err()
      .errno,
    Errno::ENOSPC
  );
  assert_eq!(mm.nodes().count(), 3);
}

#[test]
fn replace_keeps_place_and_checks_colour() {
  let mut mm = Mm::with_color_guard(0, 16 * K, K).unwrap();
  mm.reserve(0, K, 1).unwrap();
  mm.reserve(K, K, 1).unwrap();
  let before: Vec<_> = mm.holes().collect();
  assert_eq!(mm.replace(K, 2).unwrap_err().errno, Errno::ENOSPC);
  assert_eq!(mm.get(K).unwrap().color, 1);
  assert_eq!(mm.replace(K, 1).unwrap().start, K);
  mm.remove(0).unwrap();
  let n = mm.replace(K, 2).unwrap();
  assert_eq!((n.start, n.size, n.color), (K, K, 2));
  assert_eq!(mm.holes().count(), before.len() + 1);
  assert_eq!(mm.replace(5 * K, 0).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn scan_counts_the_guard_and_evicts_a_neighbour_after() {
  // Colours 1, 2, 1, 2 with a guard-sized gap after each.
  let mut mm = Mm::with_color_guard(0, 8 * K, K).unwrap();
  for (i, c) in [1, 2, 1, 2].into_iter().enumerate() {
    mm.reserve(2 * i as u64 * K, K, c).unwrap();
  }
  mm.scan_init(2 * K, 0, 3, 0, 8 * K, InsertMode::Low).unwrap();
  // [K, 4K) less a guard at each side leaves 1K.
  assert_eq!(mm.scan_add_block(2 * K), Ok(false));
  // [K, 6K) leaves [2K, 5K).
  assert_eq!(mm.scan_add_block(4 * K), Ok(true));
  assert_eq!(mm.scan_hit(), Some((2 * K, 4 * K)));
  assert_eq!(mm.scan_color_evict().unwrap_err().errno, Errno::EBUSY);
  assert_eq!(mm.scan_remove_block(4 * K), Ok(false));
  assert_eq!(mm.scan_remove_block(2 * K), Ok(true));
  mm.remove(2 * K).unwrap();
  // The hole [K, 4K) still ends at colour 1 at 4K: that node must go too.
  assert_eq!(mm.scan_color_evict(), Ok(Some(4 * K)));
  mm.remove(4 * K).unwrap();
  assert_eq!(mm.scan_color_evict(), Ok(None));
  assert_eq!(
    mm.insert(2 * K, 0, 3, 0, 8 * K, InsertMode::Evict).unwrap().start,
    2 * K
  );
}

#[test]
fn scan_color_evict_returns_the_node_before() {
  let mut mm = Mm::with_color_guard(0, 5 * K, K).unwrap();
  for (at, c) in [(0, 1), (2 * K, 2), (4 * K, 1)] {
    mm.reserve(at, K, c).unwrap();
  }
  mm.scan_init(2 * K, 0, 2, 0, 5 * K, InsertMode::High).unwrap();
  let (found, evict) = mm.scan_run(&[2 * K, 0]).unwrap();
  assert!(found);
  assert_eq!(mm.scan_hit(), Some((K, 3 * K)));
  assert_eq!(evict, vec![2 * K]);
  mm.remove(2 * K).unwrap();
  assert_eq!(mm.scan_color_evict(), Ok(Some(0)));
  mm.remove(0).unwrap();
  assert_eq!(mm.scan_color_evict(), Ok(None));
  // Without a guard there is never a further victim.
  let mut plain = Mm::new(0, 2 * K).unwrap();
  plain.reserve(0, K, 1).unwrap();
  plain.scan_init(K, 0, 2, 0, 2 * K, InsertMode::Low).unwrap();
  assert_eq!(plain.scan_color_evict(), Ok(None));
}
