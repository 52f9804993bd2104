use super::{Hole, InsertMode, Mm};
use crate::errno::Errno;

fn holes(mm: &Mm) -> Vec<(u64, u64)> {
  mm.holes().map(|Hole { start, size }| (start, size)).collect()
}

fn starts(mm: &Mm) -> Vec<u64> {
  mm.nodes().map(|n| n.start).collect()
}

#[test]
fn init_reserve_remove() {
  let mut mm = Mm::new(0, 4096).unwrap();
  assert_eq!(holes(&mm), vec![(0, 4096)]);
  mm.reserve(0, 4096, 0).unwrap();
  assert!(holes(&mm).is_empty());
  mm.remove(0).unwrap();
  assert_eq!(holes(&mm), vec![(0, 4096)]);
  assert_eq!(Mm::new(0, 0).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(Mm::new(1, u64::MAX).unwrap_err().errno, Errno::EINVAL);
  assert!(Mm::new(1, u64::MAX - 1).is_ok());
}

#[test]
fn lowest_and_highest_skip_the_small_hole() {
  for (mode, want) in [(InsertMode::Low, 2), (InsertMode::High, 3)] {
    let mut mm = Mm::new(0, 7).unwrap();
    mm.reserve(1, 1, 0).unwrap();
    mm.reserve(5, 1, 0).unwrap();
    assert_eq!(holes(&mm), vec![(0, 1), (2, 3), (6, 1)]);
    let n = mm.insert(2, 0, 0, 0, u64::MAX, mode).unwrap();
    assert_eq!(n.start, want);
  }
}

#[test]
fn align64_power_of_two_loop() {
  let mut mm = Mm::new(1, u64::MAX - 2).unwrap();
  for bit in (1..64u32).rev() {
    let align = 1u64 << bit;
    let size = (1u64 << (bit - 1)) + 1;
    let n = mm
      .insert(size, align, bit as u64, 0, u64::MAX, InsertMode::Best)
      .unwrap();
    assert_eq!(n.start % align, 0, "bit {bit}");
    assert_eq!(n.color, bit as u64);
  }
}

#[test]
fn non_power_of_two_alignment_in_every_mode() {
  for mode in [
    InsertMode::Best,
    InsertMode::Low,
    InsertMode::High,
    InsertMode::Evict,
  ] {
    let mut mm = Mm::new(0, 10_000).unwrap();
    for align in [3u64, 5, 7, 11, 13, 17] {
      let n = mm.insert(align + 1, align, 0, 0, u64::MAX, mode).unwrap();
      assert_eq!(n.start % align, 0);
    }
  }
}

#[test]
fn reserve_errors() {
  let mut mm = Mm::new(0, 1000).unwrap();
  assert_eq!(mm.reserve(10, 0, 0).unwrap_err().errno, Errno::ENOSPC);
  assert_eq!(mm.reserve(u64::MAX, 2, 0).unwrap_err().errno, Errno::ENOSPC);
  assert_eq!(mm.reserve(999, 2, 0).unwrap_err().errno, Errno::ENOSPC);
  mm.reserve(100, 50, 0).unwrap();
  assert_eq!(mm.reserve(100, 50, 0).unwrap_err().errno, Errno::ENOSPC);
  assert_eq!(mm.reserve(120, 1, 0).unwrap_err().errno, Errno::ENOSPC);
  assert_eq!(mm.reserve(90, 11, 0).unwrap_err().errno, Errno::ENOSPC);
  mm.reserve(90, 10, 0).unwrap();
  mm.reserve(150, 10, 0).unwrap();
  assert_eq!(starts(&mm), vec![90, 100, 150]);
  assert_eq!(mm.remove(91).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn insert_errors_leave_state_alone() {
  let mut mm = Mm::new(0, 100).unwrap();
  assert_eq!(
    mm.insert(0, 0, 0, 0, 100, InsertMode::Best).unwrap_err().errno,
    Errno::ENOSPC
  );
  assert_eq!(
    mm.insert(10, 0, 0, 50, 40, InsertMode::Best).unwrap_err().errno,
    Errno::EINVAL
  );
  assert_eq!(
    mm.insert(11, 0, 0, 40, 50, InsertMode::Low).unwrap_err().errno,
    Errno::ENOSPC
  );
  assert_eq!(
    mm.insert(101, 0, 0, 0, u64::MAX, InsertMode::Low)
      .unwrap_err()
      .errno,
    Errno::ENOSPC
  );
  assert_eq!(
    mm.insert(50, 64, 0, 1, u64::MAX, InsertMode::Low)
      .unwrap_err()
      .errno,
    Errno::ENOSPC
  );
  assert_eq!(holes(&mm), vec![(0, 100)]);
}

#[test]
fn fill_then_enospc_then_reinsert_same_place() {
  for mode in [
    InsertMode::Best,
    InsertMode::Low,
    InsertMode::High,
    InsertMode::Evict,
  ] {
    let mut mm = Mm::new(0, 64 * 8).unwrap();
    for _ in 0..64 {
      mm.insert(8, 0, 0, 0, u64::MAX, mode).unwrap();
    }
    assert!(holes(&mm).is_empty());
    assert_eq!(
      mm.insert(1, 0, 0, 0, u64::MAX, mode).unwrap_err().errno,
      Errno::ENOSPC
    );
    mm.remove(8 * 17).unwrap();
    assert_eq!(mm.insert(8, 0, 0, 0, u64::MAX, mode).unwrap().start, 8 * 17);
  }
}

#[test]
fn insert_in_range_stays_inside() {
  for mode in [InsertMode::Best, InsertMode::Low, InsertMode::High] {
    let mut mm = Mm::new(0, 1 << 20).unwrap();
    let (lo, hi) = (4096u64, 4096 * 9);
    let mut got = Vec::new();
    for _ in 0..8 {
      let n = mm.insert(4096, 4096, 0, lo, hi, mode).unwrap();
      assert!(n.start >= lo && n.start + n.size <= hi);
      got.push(n.start);
    }
    got.sort();
    assert_eq!(got, (1..9).map(|k| k * 4096).collect::<Vec<_>>());
    assert_eq!(
      mm.insert(4096, 0, 0, lo, hi, mode).unwrap_err().errno,
      Errno::ENOSPC
    );
  }
}

#[test]
fn topdown_and_bottomup_order() {
  let mut mm = Mm::new(0, 100).unwrap();
  let high: Vec<u64> = (0..5)
    .map(|_| mm.insert(10, 0, 0, 0, u64::MAX, InsertMode::High).unwrap().start)
    .collect();
  assert_eq!(high, vec![90, 80, 70, 60, 50]);
  let low: Vec<u64> = (0..5)
    .map(|_| mm.insert(10, 0, 0, 0, u64::MAX, InsertMode::Low).unwrap().start)
    .collect();
  assert_eq!(low, vec![0, 10, 20, 30, 40]);
}

#[test]
fn best_fit_prefers_smallest_then_newest() {
  let mut mm = Mm::new(0, 100).unwrap();
  for s in [0, 10, 30, 45, 60] {
    mm.reserve(s, 5, 0).unwrap();
  }
  // holes: [5,10) 5, [15,30) 15, [35,45) 10, [50,60) 10, [65,100) 35
  assert_eq!(
    mm.insert(8, 0, 0, 0, u64::MAX, InsertMode::Best).unwrap().start,
    50
  );
  assert_eq!(
    mm.insert(8, 0, 0, 0, u64::MAX, InsertMode::Best).unwrap().start,
    35
  );
}

#[test]
fn evict_scan_finds_and_evict_mode_fills_it() {
  let mut mm = Mm::new(0, 64).unwrap();
  for s in 0..64 {
    mm.reserve(s, 1, 0).unwrap();
  }
  mm.scan_init(4, 4, 0, 0, 64, InsertMode::Low).unwrap();
  let victims = [9u64, 21, 20, 22, 23, 40];
  let mut added = Vec::new();
  for &v in &victims {
    added.push(v);
    if mm.scan_add_block(v).unwrap() {
      break;
    }
  }
  assert_eq!(added, vec![9, 21, 20, 22, 23]);
  assert_eq!(mm.scan_hit(), Some((20, 24)));
  assert_eq!(mm.remove(5).unwrap_err().errno, Errno::EBUSY);
  assert_eq!(mm.scan_remove_block(9).unwrap_err().errno, Errno::EINVAL);
  let mut evict = Vec::new();
  for &v in added.iter().rev() {
    if mm.scan_remove_block(v).unwrap() {
      evict.push(v);
    }
  }
  assert_eq!(evict, vec![23, 22, 20, 21]);
  for v in evict {
    mm.remove(v).unwrap();
  }
  let n = mm.insert(4, 4, 0, 0, 64, InsertMode::Evict).unwrap();
  assert_eq!(n.start, 20);
  assert!(holes(&mm).is_empty());
}

#[test]
fn scan_run_matches_manual_and_restores() {
  let mut mm = Mm::new(0, 32).unwrap();
  for s in 0..32 {
    mm.reserve(s, 1, 0).unwrap();
  }
  let before = starts(&mm);
  mm.scan_init(3, 0, 0, 8, 16, InsertMode::High).unwrap();
  let (found, evict) = mm.scan_run(&[2, 13, 14, 15, 30]).unwrap();
  assert!(found);
  assert_eq!(evict, vec![15, 14, 13]);
  assert_eq!(starts(&mm), before);
  mm.scan_init(40, 0, 0, 0, 32, InsertMode::Low).unwrap_err();
  mm.scan_init(4, 0, 0, 0, 32, InsertMode::Low).unwrap();
  let err = mm.scan_run(&[1, 2, 99]).unwrap_err();
  assert_eq!(err.errno, Errno::EINVAL);
  assert_eq!(mm.scan_active(), 0);
  let (found, evict) = mm.scan_run(&[]).unwrap();
  assert!(!found && evict.is_empty());
}

#[test]
fn stats_and_fragmentation() {
  let mut mm = Mm::new(0, 100).unwrap();
  mm.reserve(50, 10, 0).unwrap();
  let s = mm.stats();
  assert_eq!(
    (s.used, s.free, s.largest_hole, s.nodes, s.holes),
    (10, 90, 50, 1, 2)
  );
  assert!((s.fragmentation() - (1.0 - 50.0 / 90.0)).abs() < 1e-12);
}

#[test]
fn the_no_hole_message_reads_as_format_writes_it() {
  for size in [0u64, 1, 0xf, 0x10, 0x1000, 0xdead_beef, u64::MAX] {
    assert_eq!(
      super::no_hole_message(size),
      format!("no hole fits size {size:#x}")
    );
  }
  let mut mm = Mm::new(0, 0x1000).unwrap();
  mm.insert_simple(0x800).unwrap();
  let e = mm.insert_simple(0x1000).unwrap_err();
  assert_eq!(
    (e.errno, e.message.as_str()),
    (Errno::ENOSPC, "no hole fits size 0x1000")
  );
}

mod color;
