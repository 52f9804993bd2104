//! Atomic bind arrays (`bindArray`, a fast entry point: one crossing for the
//! array, its packed words as `bindBatch` takes them) and `reinsert`, the
//! put-back of a removed mapping that the public `undo` uses (a cold call).

use crate::batch::{batch_arrays, check_per};
use crate::calls::{Cx, Reply};
use crate::convert::{einval as js_einval, key, u64_arg, va_record, Result, VaRecord};
use crate::io::{Io, Totals};
use crate::raw::{einval, Failure};
use crate::vm::NativeVm;
use drmsim_core::gpuvm::{ArrayRequest, Va};
use drmsim_core::wire::{
  BATCH_AT_ADDR, BATCH_AT_HEAD, BATCH_AT_OFFSET, BATCH_AT_RANGE, BATCH_KIND_MASK, BATCH_MAP, BATCH_OBJ_SHIFT,
  BATCH_UNMAP, BATCH_WORDS,
};
use napi::bindgen_prelude::BigInt;
use napi::Env;
use napi_derive::napi;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The handler of `bindArray(id, words, perRequest)`; the injected failure
/// index is the request's `seq` slot (-1: none). On failure the failing
/// request's index goes to the requests slot and whether requests were
/// undone to the number slot; on success the totals, as `bindBatch`.
pub(crate) fn bind_array(cx: &mut Cx<'_>) -> std::result::Result<Reply, Failure> {
  let (words, len, per) = batch_arrays(cx)?;
  let fail_at = cx.req.seq;
  let fail_at = match fail_at {
    -1.0 => None,
    f if f >= 0.0 && f.fract() == 0.0 && f <= 9007199254740991.0 => Some(f as usize),
    f => {
      return Err(einval(format!(
        "failAt must be a safe non-negative integer, got {f}"
      )))
    }
  };
  // SAFETY: as bindBatch's: the arrays are valid for the call and run no script.
  let reqs = unsafe { read(words, len) }?;
  check_per(per, reqs.len())?;
  let io: Io = cx.io;
  let done = cx.state.vm.bind_array(&reqs, fail_at, |i, c| {
    if let Some((p, _)) = per {
      for (k, v) in [c.map, c.remap, c.unmap].into_iter().enumerate() {
        // SAFETY: 3 * i + k < 3 * n <= per_len, and `per` is valid and
        // aligned, as checked; a relaxed atomic store (see batch.rs).
        unsafe { AtomicU32::from_ptr(p.add(3 * i + k)) }.store(v as u32, Ordering::Relaxed);
      }
    }
  });
  match done {
    Ok(c) => {
      let mut totals = Totals::default();
      totals.add(&c);
      io.counts(&totals, reqs.len() as f64);
      Ok(Reply::Done)
    }
    Err(f) => {
      io.counts(&Totals::default(), f.index as f64);
      io.number(if f.unwound { 1.0 } else { 0.0 });
      Err(f.error.into())
    }
  }
}

/// The requests of a packed array, each kind checked.
///
/// # Safety
/// `words` points to `len` u64 valid for the call (see batch.rs `apply`).
unsafe fn read(words: *const u64, len: usize) -> std::result::Result<Vec<ArrayRequest>, Failure> {
  if !len.is_multiple_of(BATCH_WORDS) {
    return Err(einval(format!("a batch has {BATCH_WORDS} words per request")));
  }
  if !words.cast::<AtomicU64>().is_aligned() {
    return Err(einval("a batch array is not aligned"));
  }
  // SAFETY: i < len, and `words` is valid for len u64 and aligned, as checked.
  let word = |i: usize| unsafe { AtomicU64::from_ptr(words.add(i).cast_mut()) }.load(Ordering::Relaxed);
  (0..len / BATCH_WORDS)
    .map(|i| {
      let w = i * BATCH_WORDS;
      let head = word(w + BATCH_AT_HEAD);
      let kind = head & BATCH_KIND_MASK;
      if kind != BATCH_MAP && kind != BATCH_UNMAP {
        return Err(einval(format!(
          "request {i} of the batch has an unknown kind {kind}"
        )));
      }
      Ok(ArrayRequest {
        unmap: kind == BATCH_UNMAP,
        addr: word(w + BATCH_AT_ADDR),
        range: word(w + BATCH_AT_RANGE),
        obj: (head >> BATCH_OBJ_SHIFT) as u32,
        offset: word(w + BATCH_AT_OFFSET),
      })
    })
    .collect()
}

#[napi]
impl NativeVm {
  /// Puts a removed mapping back with its seq and flags, unlinked (`undo`).
  #[napi(catch_unwind)]
  #[allow(clippy::too_many_arguments)]
  pub fn reinsert(
    &self,
    env: Env,
    addr: BigInt,
    range: BigInt,
    obj: u32,
    offset: BigInt,
    seq: f64,
    flags: u32,
  ) -> Result<VaRecord> {
    let (addr, seq) = key(&addr, seq)?;
    let range = u64_arg(&range, "range")?;
    let offset = u64_arg(&offset, "offset")?;
    if flags > 0xffff {
      return Err(js_einval(format!("flags must fit in 16 bits, got {flags}")));
    }
    let va = Va {
      addr,
      range,
      obj,
      offset,
      seq,
      flags,
      slot: 0,
    };
    self.changing(&env, |vm| vm.reinsert(va)).map(va_record)
  }
}
