use super::{Buddy, CONTIGUOUS, MAX_ORDER, RANGE, TOPDOWN};
use crate::errno::Errno;

const PS: u64 = 4096;

fn alloc(mm: &mut Buddy, size: u64, min: u64, flags: u32) -> Result<Vec<(u64, u64)>, Errno> {
  let end = mm.size();
  mm.alloc_blocks(0, end, size, min, flags)
    .map(|v| v.into_iter().map(|b| (b.offset, b.size)).collect())
    .map_err(|e| e.errno)
}

fn free(mm: &mut Buddy, blocks: &[(u64, u64)]) {
  let offs: Vec<u64> = blocks.iter().map(|b| b.0).collect();
  mm.free_blocks(&offs).unwrap();
}

#[test]
fn init_rules() {
  assert_eq!(Buddy::new(PS - 1, PS).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(Buddy::new(1 << 20, 2048).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(Buddy::new(1 << 20, 3 * PS).unwrap_err().errno, Errno::EINVAL);
  let mm = Buddy::new(12 * PS + 100, PS).unwrap();
  assert_eq!(mm.size(), 12 * PS);
  let roots: Vec<(u64, u32)> = mm.roots().iter().map(|b| (b.offset, b.order)).collect();
  assert_eq!(roots, vec![(0, 3), (8 * PS, 2)]);
}

#[test]
fn limit() {
  let mut mm = Buddy::new(u64::MAX, PS).unwrap();
  assert_eq!(mm.max_order(), MAX_ORDER);
  let got = alloc(&mut mm, PS << MAX_ORDER, PS, 0).unwrap();
  assert_eq!(got.len(), 1);
  assert_eq!(got[0].1, PS << MAX_ORDER);
}

#[test]
fn optimistic() {
  let mut mm = Buddy::new(PS * ((1 << 17) - 1), PS).unwrap();
  assert_eq!(mm.max_order(), 16);
  for o in 0..=16 {
    alloc(&mut mm, PS << o, PS << o, 0).unwrap();
  }
  assert_eq!(alloc(&mut mm, PS, PS, 0), Err(Errno::ENOSPC));
}

#[test]
fn pessimistic() {
  let mut mm = Buddy::new(PS << 16, PS).unwrap();
  let mut held = Vec::new();
  for o in 0..16 {
    held.push(alloc(&mut mm, PS << o, PS << o, 0).unwrap());
  }
  let last = alloc(&mut mm, PS, PS, 0).unwrap();
  for o in 0..=16 {
    assert_eq!(alloc(&mut mm, PS << o, PS << o, 0), Err(Errno::ENOSPC));
  }
  free(&mut mm, &last);
  for (o, b) in held.iter().enumerate() {
    free(&mut mm, b);
    let got = alloc(&mut mm, PS << (o + 1), PS << (o + 1), 0).unwrap();
    free(&mut mm, &got);
  }
  let all = alloc(&mut mm, PS << 16, PS << 16, 0).unwrap();
  assert_eq!(all, vec![(0, PS << 16)]);
}

#[test]
fn pathological() {
  let mut mm = Buddy::new(8 * PS, PS).unwrap();
  let mut blocks: Vec<Vec<(u64, u64)>> = Vec::new();
  let mut holes: Vec<Vec<(u64, u64)>> = Vec::new();
  for top in (1..=3u32).rev() {
    // The largest block is the oldest one.
    if !blocks.is_empty() {
      let b = blocks.remove(0);
      free(&mut mm, &b);
    }
    for o in (0..top).rev() {
      blocks.push(alloc(&mut mm, PS << o, PS << o, 0).unwrap());
    }
    holes.push(alloc(&mut mm, PS, PS, 0).unwrap());
    assert_eq!(alloc(&mut mm, PS << top, PS << top, 0), Err(Errno::ENOSPC));
  }
  for h in &holes {
    free(&mut mm, h);
  }
  for o in 1..=3 {
    assert_eq!(
      alloc(&mut mm, PS << o, PS << o, 0),
      Err(Errno::ENOSPC),
      "order {o}"
    );
  }
}

#[test]
fn contiguous_try_harder() {
  let mut mm = Buddy::new(48 * PS, PS).unwrap();
  let mut lists: [Vec<(u64, u64)>; 3] = Default::default();
  for i in 0..48 {
    let b = alloc(&mut mm, PS, PS, 0).unwrap();
    lists[i % 3].extend(b);
  }
  assert_eq!(alloc(&mut mm, 3 * PS, PS, CONTIGUOUS), Err(Errno::ENOSPC));
  let [l, m, r] = lists;
  free(&mut mm, &m);
  assert_eq!(alloc(&mut mm, 3 * PS, PS, CONTIGUOUS), Err(Errno::ENOSPC));
  assert_eq!(alloc(&mut mm, 2 * PS, PS, CONTIGUOUS), Err(Errno::ENOSPC));
  free(&mut mm, &r);
  assert_eq!(alloc(&mut mm, 3 * PS, PS, CONTIGUOUS), Err(Errno::ENOSPC));
  let two = alloc(&mut mm, 2 * PS, PS, CONTIGUOUS).unwrap();
  free(&mut mm, &l);
  let three = alloc(&mut mm, 3 * PS, PS, CONTIGUOUS).unwrap();
  let total: u64 = two.iter().chain(three.iter()).map(|b| b.1).sum();
  assert_eq!(total, 5 * PS);
  let mut run: Vec<_> = three.clone();
  run.sort();
  assert_eq!(run[0].0 + run[0].1, run[1].0, "three pages are contiguous");
}

#[test]
fn contiguous_rounds_then_trims() {
  let mut mm = Buddy::new(16 * PS, PS).unwrap();
  let got = alloc(&mut mm, 5 * PS, PS, CONTIGUOUS).unwrap();
  assert_eq!(got.iter().map(|b| b.1).sum::<u64>(), 5 * PS);
  assert_eq!(mm.avail(), 11 * PS);
}

#[test]
fn topdown_takes_the_highest() {
  let mut mm = Buddy::new(16 * PS, PS).unwrap();
  assert_eq!(alloc(&mut mm, PS, PS, TOPDOWN).unwrap(), vec![(15 * PS, PS)]);
  assert_eq!(
    alloc(&mut mm, 4 * PS, PS, TOPDOWN).unwrap(),
    vec![(8 * PS, 4 * PS)]
  );
}

#[test]
fn range_bias() {
  let mut mm = Buddy::new(64 * PS, PS).unwrap();
  let (s, e) = (8 * PS, 16 * PS);
  assert_eq!(
    mm.alloc_blocks(s, e, 9 * PS, PS, RANGE).unwrap_err().errno,
    Errno::ENOSPC
  );
  assert_eq!(
    mm.alloc_blocks(s + PS, e, 8 * PS, 8 * PS, RANGE)
      .unwrap_err()
      .errno,
    Errno::ENOSPC
  );
  let got = mm.alloc_blocks(s, e, 8 * PS, 8 * PS, RANGE).unwrap();
  assert_eq!(got.len(), 1);
  assert_eq!((got[0].offset, got[0].size), (s, 8 * PS));
  assert_eq!(
    mm.alloc_blocks(s, e, PS, PS, RANGE).unwrap_err().errno,
    Errno::ENOSPC
  );
  mm.free_blocks(&[s]).unwrap();
  let got = mm.alloc_blocks(3 * PS, 13 * PS, 6 * PS, PS, RANGE).unwrap();
  for b in &got {
    assert!(b.offset >= 3 * PS && b.offset + b.size <= 13 * PS);
  }
  assert_eq!(got.iter().map(|b| b.size).sum::<u64>(), 6 * PS);
}

#[test]
fn argument_errors() {
  let mut mm = Buddy::new(64 * PS, PS).unwrap();
  for (start, end, size, min, flags) in [
    (0, 64 * PS, PS - 1, PS, 0),
    (0, 64 * PS, PS, PS / 2, 0),
    (0, 64 * PS, 2 * PS, 3 * PS, 0),
    (1, 64 * PS, PS, PS, 0),
    (0, 65 * PS, PS, PS, 0),
    (64 * PS, 64 * PS, PS, PS, 0),
    (0, 64 * PS, 65 * PS, PS, 0),
    (PS, 3 * PS, 2 * PS, 2 * PS, 0),
    (0, 64 * PS, PS, PS, 1 << 9),
  ] {
    let e = mm.alloc_blocks(start, end, size, min, flags).unwrap_err();
    assert_eq!(
      e.errno,
      Errno::EINVAL,
      "{start} {end} {size} {min}: {}",
      e.message
    );
  }
  assert_eq!(mm.stats().avail, 64 * PS);
  assert_eq!(mm.free_blocks(&[0]).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn exact_range_and_free_merge_back() {
  let mut mm = Buddy::new(64 * PS, PS).unwrap();
  let got = mm.alloc_blocks(4 * PS, 10 * PS, 6 * PS, PS, 0).unwrap();
  let v: Vec<(u64, u64)> = got.iter().map(|b| (b.offset, b.size)).collect();
  assert_eq!(v, vec![(4 * PS, 4 * PS), (8 * PS, 2 * PS)]);
  assert_eq!(
    mm.alloc_blocks(6 * PS, 7 * PS, PS, PS, 0).unwrap_err().errno,
    Errno::ENOSPC
  );
  mm.free_blocks(&[4 * PS, 8 * PS]).unwrap();
  assert_eq!(mm.free_list().len(), 1);
  assert_eq!(mm.stats().fragmentation(), 0.0);
}

#[test]
fn trim_keeps_the_front() {
  let mut mm = Buddy::new(16 * PS, PS).unwrap();
  let b = alloc(&mut mm, 8 * PS, 8 * PS, 0).unwrap();
  let pieces = mm.trim(b[0].0, 3 * PS).unwrap();
  let v: Vec<(u64, u64)> = pieces.iter().map(|p| (p.offset, p.size)).collect();
  assert_eq!(v, vec![(b[0].0, 2 * PS), (b[0].0 + 2 * PS, PS)]);
  assert_eq!(mm.avail(), 13 * PS);
  assert_eq!(mm.trim(b[0].0, 4 * PS).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn over_max_order() {
  // 10 units: roots of 8 and 2.
  let mut mm = Buddy::new(10 * PS, PS).unwrap();
  let got = alloc(&mut mm, 9 * PS, PS, CONTIGUOUS).unwrap();
  assert_eq!(got.iter().map(|b| b.1).sum::<u64>(), 9 * PS);
  let mut mm = Buddy::new(10 * PS, PS).unwrap();
  assert_eq!(alloc(&mut mm, 9 * PS, 8 * PS, 0), Err(Errno::EINVAL));
  assert_eq!(alloc(&mut mm, 9 * PS, PS, CONTIGUOUS | RANGE), Err(Errno::EINVAL));
}

mod clear;

mod index;
