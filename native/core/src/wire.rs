//! The layouts the N-API binding (`native/napi`) and JavaScript share, defined
//! once, here: the packed op, the packed batch request and the fast calls'
//! I/O buffer, with the packed op's codec.
//!
//! `tests/wire_ts.rs` renders these constants into `lib/contract/wire.gen.ts`
//! and fails when the checked-in file differs (regenerate with
//! `DRMSIM_BLESS=1 cargo test -p drmsim-core --test wire_ts`), so TypeScript
//! never spells a layout by hand.

use crate::errno::{Errno, Error, Result};
use crate::gpuvm::{Op, OpMap, OpRemap, OpUnmap, Va};

// ---- the packed op ---------------------------------------------------------
//
// `OP_WORDS` u64 words per op:
// `[kind | keep<<4 | has_prev<<5 | has_next<<6 | va.flags<<32, va.seq, va.addr,
//   va.range, va.obj, va.offset, a.addr, a.range, a.obj, a.offset, b.addr,
//   b.range, b.obj, b.offset]`, where `a` is the new mapping of a MAP or the
// `prev` piece of a REMAP, and `b` the `next` piece. Unused words are 0.

/// Words per packed op.
pub const OP_WORDS: usize = 14;

/// Kind codes (bits 0-3 of the head word).
pub const OP_KIND_MAP: u64 = 0;
pub const OP_KIND_REMAP: u64 = 1;
pub const OP_KIND_UNMAP: u64 = 2;
pub const OP_KIND_PREFETCH: u64 = 3;
/// The bits of the head word that hold the kind.
pub const OP_KIND_MASK: u64 = 0xf;
/// Head-word flag: the unmapped mapping is continued physically (`keep`).
pub const OP_KEEP: u64 = 1 << 4;
/// Head-word flag: a REMAP has a `prev` piece (at `OP_AT_A`).
pub const OP_HAS_PREV: u64 = 1 << 5;
/// Head-word flag: a REMAP has a `next` piece (at `OP_AT_B`).
pub const OP_HAS_NEXT: u64 = 1 << 6;
/// The named mapping's flags sit in the head word's high half.
pub const OP_FLAGS_SHIFT: u32 = 32;

/// Word of the kind and flags.
pub const OP_AT_HEAD: usize = 0;
/// Word of the named mapping's seq.
pub const OP_AT_SEQ: usize = 1;
/// The mapping a REMAP, UNMAP or PREFETCH names: addr, range, obj, offset.
pub const OP_AT_VA: usize = 2;
/// The new mapping of a MAP, or the `prev` piece of a REMAP.
pub const OP_AT_A: usize = 6;
/// The `next` piece of a REMAP.
pub const OP_AT_B: usize = 10;
/// Field offsets within a mapping's four words.
pub const OP_ADDR: usize = 0;
pub const OP_RANGE: usize = 1;
pub const OP_OBJ: usize = 2;
pub const OP_OFFSET: usize = 3;

fn put_map(w: &mut [u64; OP_WORDS], at: usize, m: &OpMap) {
  w[at + OP_ADDR] = m.addr;
  w[at + OP_RANGE] = m.range;
  w[at + OP_OBJ] = u64::from(m.obj);
  w[at + OP_OFFSET] = m.offset;
}

fn put_va(w: &mut [u64; OP_WORDS], va: &Va) {
  w[OP_AT_HEAD] |= u64::from(va.flags) << OP_FLAGS_SHIFT;
  w[OP_AT_SEQ] = va.seq;
  w[OP_AT_VA + OP_ADDR] = va.addr;
  w[OP_AT_VA + OP_RANGE] = va.range;
  w[OP_AT_VA + OP_OBJ] = u64::from(va.obj);
  w[OP_AT_VA + OP_OFFSET] = va.offset;
}

/// The packed words of `op`.
#[inline]
pub fn pack_op(op: &Op) -> [u64; OP_WORDS] {
  let mut w = [0u64; OP_WORDS];
  match op {
    Op::Map(m) => put_map(&mut w, OP_AT_A, m),
    Op::Remap(r) => {
      w[OP_AT_HEAD] = OP_KIND_REMAP | if r.unmap.keep { OP_KEEP } else { 0 };
      put_va(&mut w, &r.unmap.va);
      if let Some(p) = &r.prev {
        w[OP_AT_HEAD] |= OP_HAS_PREV;
        put_map(&mut w, OP_AT_A, p);
      }
      if let Some(n) = &r.next {
        w[OP_AT_HEAD] |= OP_HAS_NEXT;
        put_map(&mut w, OP_AT_B, n);
      }
    }
    Op::Unmap(u) => {
      w[OP_AT_HEAD] = OP_KIND_UNMAP | if u.keep { OP_KEEP } else { 0 };
      put_va(&mut w, &u.va);
    }
    Op::Prefetch(va) => {
      w[OP_AT_HEAD] = OP_KIND_PREFETCH;
      put_va(&mut w, va);
    }
  }
  w
}

fn einval(message: String) -> Error {
  Error::new(Errno::EINVAL, message)
}

/// The op packed in `w` (`OP_WORDS` words). The named mapping comes back with
/// flags 0 and no store hint (`slot` `u32::MAX`): a step to apply is found by
/// its key. EINVAL for a wrong length, an unknown kind or an object id over
/// u32.
pub fn unpack_op(w: &[u64]) -> Result<Op> {
  if w.len() != OP_WORDS {
    return Err(einval(format!("a packed op has {OP_WORDS} words")));
  }
  let obj = |v: u64| u32::try_from(v).map_err(|_| einval("object id out of range".into()));
  let va = || -> Result<Va> {
    Ok(Va {
      seq: w[OP_AT_SEQ],
      addr: w[OP_AT_VA + OP_ADDR],
      range: w[OP_AT_VA + OP_RANGE],
      obj: obj(w[OP_AT_VA + OP_OBJ])?,
      offset: w[OP_AT_VA + OP_OFFSET],
      flags: 0,
      slot: u32::MAX,
    })
  };
  let map = |at: usize| -> Result<OpMap> {
    Ok(OpMap {
      addr: w[at + OP_ADDR],
      range: w[at + OP_RANGE],
      obj: obj(w[at + OP_OBJ])?,
      offset: w[at + OP_OFFSET],
    })
  };
  let head = w[OP_AT_HEAD];
  let keep = head & OP_KEEP != 0;
  Ok(match head & OP_KIND_MASK {
    OP_KIND_MAP => Op::Map(map(OP_AT_A)?),
    OP_KIND_REMAP => Op::Remap(OpRemap {
      prev: if head & OP_HAS_PREV != 0 {
        Some(map(OP_AT_A)?)
      } else {
        None
      },
      next: if head & OP_HAS_NEXT != 0 {
        Some(map(OP_AT_B)?)
      } else {
        None
      },
      unmap: OpUnmap { va: va()?, keep },
    }),
    OP_KIND_UNMAP => Op::Unmap(OpUnmap { va: va()?, keep }),
    OP_KIND_PREFETCH => Op::Prefetch(va()?),
    k => return Err(einval(format!("unknown op kind {k}"))),
  })
}

// ---- the packed batch ------------------------------------------------------
//
// `BATCH_WORDS` u64 words per request: `[kind | obj << 32, addr, range,
// offset]`; an unmap request's obj and offset are 0.

/// Words per request of a packed batch.
pub const BATCH_WORDS: usize = 4;
/// Kind codes (the head word's low half).
pub const BATCH_MAP: u64 = 0;
pub const BATCH_UNMAP: u64 = 1;
/// The bits of the head word that hold the kind.
pub const BATCH_KIND_MASK: u64 = 0xffff_ffff;
/// A map request's object id sits in the head word's high half.
pub const BATCH_OBJ_SHIFT: u32 = 32;
/// Word offsets within a request.
pub const BATCH_AT_HEAD: usize = 0;
pub const BATCH_AT_ADDR: usize = 1;
pub const BATCH_AT_RANGE: usize = 2;
pub const BATCH_AT_OFFSET: usize = 3;

// ---- the I/O buffer of the fast calls ---------------------------------------
//
// One `ArrayBuffer` per thread, handed to `fastInit`; every offset below is in
// bytes, in the platform's byte order, each aligned to its type's size so that
// JavaScript reads it through a typed-array view from byte 0.
//
// | bytes   | in                                                            | out                                                  |
// | ------- | ------------------------------------------------------------- | ---------------------------------------------------- |
// | 0..8    | addr (u64)                                                    |                                                      |
// | 8..16   | range (u64)                                                   |                                                      |
// | 16..20  | obj (u32: bind, insert, op lists); a walk's id (step, close)  |                                                      |
// | 24..32  | offset (u64: bind, insert, smMapOps); seq (f64: remove, get)  |                                                      |
// | 32..64  |                                                               | map, remap, unmap, requests (4 f64)                  |
// | 64..88  |                                                               | tree calls: the mapping's addr, range, offset (u64)  |
// | 88..96  |                                                               | its seq (f64)                                        |
// | 96..108 |                                                               | its obj, its flags, found: 1 or 0 (3 u32)            |
// | 128..   | `apply`'s op                                                  | an op list or a walk's step, packed                  |
//
// The counts are f64 so that JavaScript reads them as plain numbers; a batch
// writes its totals and how many of its requests it applied. The first out
// slot (`IO_OUT_NUMBER`, the same as `map`) holds a single number answer: an
// op list's length in words (a step: 0 when the walk is over), a walk's id,
// the count of pending warnings. A tree call writes the mapping, or `found` 0
// (and nothing else) when a find finds none.

/// Bytes before the op area.
pub const IO_BYTES: usize = 128;
/// Least size of the buffer `fastInit` takes: room for one op in the op area.
pub const IO_MIN_BYTES: usize = IO_BYTES + 8 * OP_WORDS;
/// Bytes of the op area JavaScript gives its buffer: 73 ops, more than a
/// request makes but for wide unmaps (a longer op list comes back in an array
/// of its own).
pub const IO_OPS_BYTES: usize = 8192;

/// In: the request's addr (u64).
pub const IO_ADDR: usize = 0;
/// In: its range (u64).
pub const IO_RANGE: usize = 8;
/// In: its object id, or a walk's id (u32).
pub const IO_OBJ: usize = 16;
/// In: its offset (u64).
pub const IO_OFFSET: usize = 24;
/// In: a mapping's seq (f64), in the offset's bytes.
pub const IO_SEQ: usize = 24;
/// Out: `IO_OUT_SLOTS` f64 from here.
pub const IO_OUT: usize = 32;
pub const IO_OUT_SLOTS: usize = 4;
/// Out slots (f64 index from `IO_OUT`).
pub const IO_OUT_MAP: usize = 0;
pub const IO_OUT_REMAP: usize = 1;
pub const IO_OUT_UNMAP: usize = 2;
/// How many requests of a batch were applied.
pub const IO_OUT_REQUESTS: usize = 3;
/// A single number answer (see above): the `map` slot.
pub const IO_OUT_NUMBER: usize = 0;
/// Out (tree calls): the mapping's addr (u64).
pub const IO_VA_ADDR: usize = 64;
pub const IO_VA_RANGE: usize = 72;
pub const IO_VA_OFFSET: usize = 80;
/// Its seq (f64).
pub const IO_VA_SEQ: usize = 88;
/// Its obj (u32).
pub const IO_VA_OBJ: usize = 96;
/// Its flags (u32).
pub const IO_VA_FLAGS: usize = 100;
/// 1 when the call answered with a mapping, 0 when a find found none (u32).
pub const IO_VA_FOUND: usize = 104;

#[cfg(test)]
mod tests;
