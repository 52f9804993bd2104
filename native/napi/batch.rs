//! `bindBatch`: a packed batch of bind/unbind requests (layout:
//! `drmsim_core::wire::BATCH_WORDS`) applied in one call.

use crate::calls::{Cx, Reply};
use crate::io::{Io, Totals};
use crate::raw::{einval, is_nullish, typed_array, Failure};
use drmsim_core::gpuvm::GpuVm;
use drmsim_core::wire::{
  BATCH_AT_ADDR, BATCH_AT_HEAD, BATCH_AT_OFFSET, BATCH_AT_RANGE, BATCH_KIND_MASK, BATCH_MAP, BATCH_OBJ_SHIFT,
  BATCH_UNMAP, BATCH_WORDS,
};
use napi::sys;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A batch call's two typed arrays (its extra arguments): the packed words
/// (pointer, length in u64) and `perRequest` if given (pointer, length in u32).
pub(crate) type BatchArrays = (*const u64, usize, Option<(*mut u32, usize)>);

/// Reads the `(words, perRequest)` arguments of `bindBatch` / `bindArray`.
pub(crate) fn batch_arrays(cx: &Cx<'_>) -> Result<BatchArrays, Failure> {
  let [words, per] = cx.extra;
  let env = cx.env;
  // SAFETY: `words` is an argument of the current call on env.
  let (words, len) = unsafe { typed_array(env, words, sys::TypedarrayType::biguint64_array, "the batch") }?;
  // SAFETY: `per` is an argument of the current call on env.
  let per = if unsafe { is_nullish(env, per) } {
    None
  } else {
    // SAFETY: as above.
    Some(unsafe { typed_array(env, per, sys::TypedarrayType::uint32_array, "perRequest") }?)
  };
  Ok((words.cast::<u64>(), len, per.map(|(p, n)| (p.cast::<u32>(), n))))
}

/// `perRequest` must hold three aligned counts per request.
pub(crate) fn check_per(per: Option<(*mut u32, usize)>, n: usize) -> Result<(), Failure> {
  let Some((p, per_len)) = per else { return Ok(()) };
  if !p.cast::<AtomicU32>().is_aligned() {
    return Err(einval("a batch array is not aligned"));
  }
  if per_len < 3 * n {
    return Err(einval(format!(
      "perRequest holds {per_len} counts; {n} requests need {}",
      3 * n
    )));
  }
  Ok(())
}

/// The handler of `bindBatch(id, words, perRequest)`: its two arrays are the
/// call's extra arguments.
pub(crate) fn bind_batch(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let (words, len, per) = batch_arrays(cx)?;
  // SAFETY: words holds len u64 and per (if any) its length in u32, as Node
  // says; they stay put during the call (a typed array's data is moved off
  // the V8 heap when Node hands it out, and nothing here runs script).
  unsafe { apply(&mut cx.state.vm, cx.io, words, len, per) }?;
  Ok(Reply::Done)
}

/// Applies a packed batch in order; stops at the first request that fails.
/// The totals of the requests applied, and how many there were, go to `io`
/// either way.
///
/// # Safety
/// `words` points to `len` u64 and `per` to its length in u32, valid for the
/// call. Another thread may see them (a typed array over a
/// SharedArrayBuffer), so each element is read or written on its own with a
/// relaxed atomic access: a plain load or store on the hardware, and no data
/// race for Rust.
unsafe fn apply(
  vm: &mut GpuVm,
  io: Io,
  words: *const u64,
  len: usize,
  per: Option<(*mut u32, usize)>,
) -> Result<(), Failure> {
  if !len.is_multiple_of(BATCH_WORDS) {
    return Err(einval(format!("a batch has {BATCH_WORDS} words per request")));
  }
  let n = len / BATCH_WORDS;
  if !words.cast::<AtomicU64>().is_aligned() {
    return Err(einval("a batch array is not aligned"));
  }
  check_per(per, n)?;
  // SAFETY: i < len, and `words` is valid for len u64 (the caller's
  // contract) and aligned, as checked.
  let word = |i: usize| unsafe { AtomicU64::from_ptr(words.add(i).cast_mut()) }.load(Ordering::Relaxed);
  // Every request is checked before any is applied.
  for i in 0..n {
    let kind = word(i * BATCH_WORDS + BATCH_AT_HEAD) & BATCH_KIND_MASK;
    if kind != BATCH_MAP && kind != BATCH_UNMAP {
      return Err(einval(format!(
        "request {i} of the batch has an unknown kind {kind}"
      )));
    }
  }
  let mut totals = Totals::default();
  // The start address of request k (0 past the end), for `look_ahead`.
  let addr_of = |k: usize| {
    if k < n {
      word(k * BATCH_WORDS + BATCH_AT_ADDR)
    } else {
      0
    }
  };
  for i in 0..n {
    vm.look_ahead(addr_of(i + 1), addr_of(i + 2));
    let w = i * BATCH_WORDS;
    let (head, addr, range) = (
      word(w + BATCH_AT_HEAD),
      word(w + BATCH_AT_ADDR),
      word(w + BATCH_AT_RANGE),
    );
    let done = if head & BATCH_KIND_MASK == BATCH_MAP {
      vm.bind(
        addr,
        range,
        (head >> BATCH_OBJ_SHIFT) as u32,
        word(w + BATCH_AT_OFFSET),
      )
    } else {
      vm.unbind(addr, range)
    };
    match done {
      Ok(c) => {
        totals.add(&c);
        if let Some((p, _)) = per {
          for (k, v) in [c.map, c.remap, c.unmap].into_iter().enumerate() {
            // SAFETY: 3 * i + k < 3 * n <= per_len, and `per` is valid for
            // per_len u32 (the caller's contract) and aligned, as checked.
            unsafe { AtomicU32::from_ptr(p.add(3 * i + k)) }.store(v as u32, Ordering::Relaxed);
          }
        }
      }
      Err(e) => {
        io.counts(&totals, i as f64);
        return Err(e.into());
      }
    }
  }
  io.counts(&totals, n as f64);
  Ok(())
}
