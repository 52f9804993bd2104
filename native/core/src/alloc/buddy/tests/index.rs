//! The bitmap index against the map index: two buddies, one of each, take
//! the same random calls (every flag, frees cleared or dirty, trims, exact
//! ranges, clear resets, bad frees) and must answer and look the same.

use super::super::{Block, Buddy, CLEAR_ALLOCATION, CONTIGUOUS, RANGE, TOPDOWN, TRIM_DISABLE};
use crate::lcg::Lcg;

const PS: u64 = 4096;

type Answer<T> = Result<T, (crate::Errno, String)>;

fn answer<T>(r: crate::Result<T>) -> Answer<T> {
  r.map_err(|e| (e.errno, e.message))
}

fn same(a: &Buddy, b: &Buddy, what: &str) {
  assert_eq!(a.free_list(), b.free_list(), "free list after {what}");
  assert!(
    a.allocated_list().eq(b.allocated_list()),
    "allocated after {what}"
  );
  assert_eq!(a.stats(), b.stats(), "stats after {what}");
}

#[test]
fn bitmaps_and_maps_agree_on_random_calls() {
  for (seed, pages) in [(1u64, 1000u64), (2, 4096), (3, 777)] {
    let size = pages * PS;
    let mut dense = Buddy::with_index(size, PS, Some(true)).unwrap();
    let mut sparse = Buddy::with_index(size, PS, Some(false)).unwrap();
    let mut rng = Lcg(seed);
    let mut held: Vec<Vec<Block>> = Vec::new();
    for step in 0..3000 {
      let what = format!("step {step} (seed {seed})");
      match rng.below(10) {
        0..=4 => {
          let most = if rng.below(4) == 0 { pages } else { 64 };
          let len = PS * (1 + rng.below(most));
          let min = PS << rng.below(4);
          let mut flags = [0, TOPDOWN, CONTIGUOUS, CLEAR_ALLOCATION, TRIM_DISABLE][rng.below(5) as usize];
          flags |= [0, TOPDOWN, CLEAR_ALLOCATION][rng.below(3) as usize];
          let (mut start, mut end) = (0, size);
          if rng.below(4) == 0 {
            flags |= RANGE;
            start = PS * rng.below(pages);
            end = start + PS * (1 + rng.below(pages - start / PS));
          }
          let a = answer(dense.alloc_blocks(start, end, len, min, flags));
          let b = answer(sparse.alloc_blocks(start, end, len, min, flags));
          assert_eq!(
            a, b,
            "alloc {len:#x} min {min:#x} flags {flags:#x} [{start:#x}, {end:#x}) at {what}"
          );
          if let Ok(blocks) = a {
            held.push(blocks);
          }
        }
        5..=7 if !held.is_empty() => {
          let blocks = held.swap_remove(rng.below(held.len() as u64) as usize);
          let offs: Vec<u64> = blocks.iter().map(|k| k.offset).collect();
          let cleared = rng.below(2) == 0;
          dense.free_blocks_marked(&offs, cleared).unwrap();
          sparse.free_blocks_marked(&offs, cleared).unwrap();
        }
        8 if !held.is_empty() => {
          let i = rng.below(held.len() as u64) as usize;
          let k = held[i].swap_remove(0);
          let keep = PS * (1 + rng.below(k.size / PS));
          let a = answer(dense.trim(k.offset, keep));
          assert_eq!(a, answer(sparse.trim(k.offset, keep)), "trim at {what}");
          held[i].extend(a.unwrap());
        }
        9 => {
          // A free of one bad offset, or of a block listed twice: refused alike.
          let off = PS * rng.below(pages);
          let offs = match held.first() {
            Some(h) if rng.below(2) == 0 => vec![h[0].offset, off, h[0].offset],
            _ => vec![off],
          };
          let a = answer(dense.free_blocks(&offs));
          assert_eq!(a, answer(sparse.free_blocks(&offs)), "bad free at {what}");
          if a.is_ok() {
            held.retain(|h| !h.iter().any(|k| k.offset == off));
          }
          if rng.below(8) == 0 {
            let clear = rng.below(2) == 0;
            dense.reset_clear(clear);
            sparse.reset_clear(clear);
          }
        }
        _ => {}
      }
      same(&dense, &sparse, &what);
    }
  }
}
