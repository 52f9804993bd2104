//! Clear/dirty tracking: preference, no merging across states, forced
//! merges, reset.

use super::super::{Buddy, CLEAR_ALLOCATION, RANGE, TOPDOWN};

const PS: u64 = 4096;

fn alloc(mm: &mut Buddy, size: u64, flags: u32) -> Vec<(u64, u64, bool)> {
  let end = mm.size();
  mm.alloc_blocks(0, end, size, PS, flags)
    .unwrap()
    .into_iter()
    .map(|b| (b.offset, b.size, b.clear))
    .collect()
}

fn free(mm: &mut Buddy, blocks: &[(u64, u64, bool)], cleared: bool) {
  let offs: Vec<u64> = blocks.iter().map(|b| b.0).collect();
  mm.free_blocks_marked(&offs, cleared).unwrap();
}

fn free_list(mm: &Buddy) -> Vec<(u64, u64, bool)> {
  mm.free_list()
    .into_iter()
    .map(|b| (b.offset, b.size, b.clear))
    .collect()
}

#[test]
fn cleared_blocks_come_back_when_asked_for() {
  let mut mm = Buddy::new(16 * PS, PS).unwrap();
  let a = alloc(&mut mm, 4 * PS, 0);
  assert_eq!(a, vec![(12 * PS, 4 * PS, false)]);
  free(&mut mm, &a, true);
  assert_eq!(mm.clear_avail(), 4 * PS);
  // Plain allocations prefer dirty memory.
  assert_eq!(alloc(&mut mm, 4 * PS, 0), vec![(8 * PS, 4 * PS, false)]);
  assert_eq!(
    alloc(&mut mm, 4 * PS, CLEAR_ALLOCATION),
    vec![(12 * PS, 4 * PS, true)]
  );
  assert_eq!(mm.clear_avail(), 0);
  // Nothing cleared left: a clear allocation takes dirty blocks.
  assert_eq!(alloc(&mut mm, PS, CLEAR_ALLOCATION), vec![(7 * PS, PS, false)]);
}

#[test]
fn different_states_do_not_merge_until_forced() {
  let mut mm = Buddy::new(4 * PS, PS).unwrap();
  let a = alloc(&mut mm, PS, 0);
  let b = alloc(&mut mm, PS, 0);
  let c = alloc(&mut mm, 2 * PS, 0);
  assert_eq!((a[0].0, b[0].0, c[0].0), (3 * PS, 2 * PS, 0));
  free(&mut mm, &a, true);
  free(&mut mm, &b, false);
  assert_eq!(free_list(&mm), vec![(2 * PS, PS, false), (3 * PS, PS, true)]);
  assert_eq!(mm.stats().clear_avail, PS);
  // Pages are still handed out one by one without merging.
  let one = mm.alloc_blocks(0, 4 * PS, 2 * PS, PS, 0).unwrap();
  assert_eq!(one.len(), 2);
  let offs: Vec<u64> = one.iter().map(|b| b.offset).collect();
  mm.free_blocks_marked(&offs[..1], one[0].clear).unwrap();
  mm.free_blocks_marked(&offs[1..], one[1].clear).unwrap();
  assert_eq!(free_list(&mm), vec![(2 * PS, PS, false), (3 * PS, PS, true)]);
  // A 2-page block: only a forced merge makes one, and it is dirty.
  let got = mm.alloc_blocks(0, 4 * PS, 2 * PS, 2 * PS, 0).unwrap();
  assert_eq!(
    (got[0].offset, got[0].size, got[0].clear),
    (2 * PS, 2 * PS, false)
  );
  assert_eq!(mm.clear_avail(), 0);
  mm.free_blocks_marked(&[2 * PS], true).unwrap();
  assert_eq!(free_list(&mm), vec![(2 * PS, 2 * PS, true)]);
}

#[test]
fn range_allocation_prefers_the_wanted_state() {
  let mut mm = Buddy::new(4 * PS, PS).unwrap();
  let all = alloc(&mut mm, 4 * PS, 0);
  free(&mut mm, &all, false);
  let a = mm.alloc_blocks(0, 2 * PS + PS, PS, PS, RANGE).unwrap();
  let b = mm.alloc_blocks(0, 2 * PS + PS, PS, PS, RANGE).unwrap();
  assert_eq!((a[0].offset, b[0].offset), (0, PS));
  mm.free_blocks_marked(&[PS], true).unwrap();
  mm.free_blocks_marked(&[0], false).unwrap();
  // As in the kernel, the first pass skips split blocks (never clear), so a
  // cleared page under a split root is only found by the fallback pass,
  // which takes the first free page.
  let c = mm
    .alloc_blocks(0, 3 * PS, PS, PS, RANGE | CLEAR_ALLOCATION)
    .unwrap();
  assert_eq!((c[0].offset, c[0].clear), (0, false));
  let d = mm
    .alloc_blocks(0, 3 * PS, PS, PS, RANGE | CLEAR_ALLOCATION)
    .unwrap();
  assert_eq!((d[0].offset, d[0].clear), (PS, true));
  // A plain range allocation skips the cleared half in its first pass.
  mm.free_blocks_marked(&[0], false).unwrap();
  mm.free_blocks_marked(&[PS], true).unwrap();
  let e = mm.alloc_blocks(PS, 3 * PS, PS, PS, RANGE).unwrap();
  assert_eq!((e[0].offset, e[0].clear), (2 * PS, false));
}

#[test]
fn topdown_looks_at_the_wanted_list_first() {
  let mut mm = Buddy::new(8 * PS, PS).unwrap();
  let a = alloc(&mut mm, 2 * PS, 0);
  assert_eq!(a[0].0, 6 * PS);
  free(&mut mm, &a, true);
  // The highest dirty block is [0, 4 PS) split down; the cleared one is higher.
  assert_eq!(alloc(&mut mm, PS, TOPDOWN), vec![(5 * PS, PS, false)]);
  assert_eq!(
    alloc(&mut mm, PS, TOPDOWN | CLEAR_ALLOCATION),
    vec![(7 * PS, PS, true)]
  );
}

#[test]
fn reset_clear_merges_and_marks_everything_free() {
  let mut mm = Buddy::new(8 * PS + 2 * PS, PS).unwrap();
  let blocks: Vec<_> = (0..10).map(|_| alloc(&mut mm, PS, 0)[0]).collect();
  for (i, b) in blocks.iter().enumerate() {
    if i != 3 {
      free(&mut mm, &[*b], i % 2 == 0);
    }
  }
  assert!(free_list(&mm).len() > 3);
  mm.reset_clear(true);
  assert_eq!(mm.clear_avail(), mm.avail());
  assert!(free_list(&mm).iter().all(|b| b.2));
  free(&mut mm, &[blocks[3]], true);
  assert_eq!(
    free_list(&mm),
    vec![(0, 8 * PS, true), (8 * PS, 2 * PS, true)],
    "cleared blocks merge back to the roots"
  );
  mm.reset_clear(false);
  assert_eq!(mm.clear_avail(), 0);
  assert_eq!(free_list(&mm), vec![(0, 8 * PS, false), (8 * PS, 2 * PS, false)]);
}

#[test]
fn bad_frees_change_no_state() {
  let mut mm = Buddy::new(8 * PS, PS).unwrap();
  let a = alloc(&mut mm, PS, 0);
  let before = (free_list(&mm), mm.stats());
  assert!(mm.free_blocks_marked(&[a[0].0, a[0].0], true).is_err());
  assert!(mm.free_blocks_marked(&[a[0].0, 5 * PS + 1], true).is_err());
  assert_eq!((free_list(&mm), mm.stats()), before);
  assert!(
    mm.alloc_blocks(0, 8 * PS, PS, PS, 1 << 4).is_err(),
    "CLEARED is a free flag, not an allocation flag"
  );
  assert_eq!((free_list(&mm), mm.stats()), before);
}

#[test]
fn force_merge_checks_the_block_not_its_buddy_against_the_range() {
  // Two 2-page halves, each shattered into a cleared and a dirty page.
  let mut mm = Buddy::new(4 * PS, PS).unwrap();
  let pages: Vec<_> = (0..4).map(|_| alloc(&mut mm, PS, 0)[0]).collect();
  for p in &pages {
    free(&mut mm, &[*p], p.0 % (2 * PS) == 0);
  }
  assert_eq!(free_list(&mm).len(), 4);
  // A 2-page block cannot fit in [2 PS, 3 PS), but the failed request has
  // force-merged the page there with its buddy outside the window, as the
  // kernel does (it checks only the block against the range).
  assert!(mm.alloc_blocks(2 * PS, 3 * PS, 2 * PS, 2 * PS, RANGE).is_err());
  assert_eq!(
    free_list(&mm),
    vec![(0, PS, true), (PS, PS, false), (2 * PS, 2 * PS, false)]
  );
  // [0, 3 PS): the lower half is merged for it; the result is dirty.
  let got = mm.alloc_blocks(0, 3 * PS, 2 * PS, 2 * PS, RANGE).unwrap();
  assert_eq!((got[0].offset, got[0].size, got[0].clear), (0, 2 * PS, false));
  assert_eq!(free_list(&mm), vec![(2 * PS, 2 * PS, false)]);
  assert_eq!(mm.clear_avail(), 0);
}
