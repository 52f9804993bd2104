use super::*;

const MAX: u64 = u64::MAX;

fn va(addr: u64, range: u64, obj: u32, offset: u64, seq: u64) -> Va {
  Va {
    addr,
    range,
    obj,
    offset,
    seq,
    flags: 0,
    slot: u32::MAX,
  }
}

fn map(addr: u64, range: u64, obj: u32, offset: u64) -> OpMap {
  OpMap {
    addr,
    range,
    obj,
    offset,
  }
}

/// Every kind, every flag, and the edges of u64 and u32 in every field.
fn samples() -> Vec<Op> {
  let mut ops = Vec::new();
  for (a, r, o, off, seq) in [
    (0, 0, 0, 0, 0),
    (0x1000, 0x2000, 7, 0x3000, 42),
    (MAX, MAX, u32::MAX, MAX, MAX),
    (MAX - 1, 1, u32::MAX - 1, 1 << 63, 1 << 53),
  ] {
    let v = va(a, r, o, off, seq);
    let m = map(a, r, o, off);
    let m2 = map(off, a, o ^ 1, r);
    ops.push(Op::Map(m));
    ops.push(Op::Prefetch(v));
    for keep in [false, true] {
      ops.push(Op::Unmap(OpUnmap { va: v, keep }));
      for (prev, next) in [
        (None, None),
        (Some(m), None),
        (None, Some(m2)),
        (Some(m), Some(m2)),
      ] {
        ops.push(Op::Remap(OpRemap {
          prev,
          next,
          unmap: OpUnmap { va: v, keep },
        }));
      }
    }
  }
  ops
}

#[test]
fn every_op_round_trips() {
  for op in samples() {
    let w = pack_op(&op);
    assert_eq!(unpack_op(&w).unwrap(), op, "{w:x?}");
  }
}

#[test]
fn the_words_sit_where_the_layout_says() {
  let v = Va {
    flags: 0xdead_beef,
    ..va(1, 2, 3, 4, 5)
  };
  let op = Op::Remap(OpRemap {
    prev: Some(map(6, 7, 8, 9)),
    next: Some(map(10, 11, 12, 13)),
    unmap: OpUnmap { va: v, keep: true },
  });
  let w = pack_op(&op);
  let head = OP_KIND_REMAP | OP_KEEP | OP_HAS_PREV | OP_HAS_NEXT | 0xdead_beef << OP_FLAGS_SHIFT;
  assert_eq!(w, [head, 5, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13]);
  // A map's flags and named mapping are all zero.
  let w = pack_op(&Op::Map(map(MAX, MAX, u32::MAX, MAX)));
  assert_eq!(
    w,
    [
      OP_KIND_MAP,
      0,
      0,
      0,
      0,
      0,
      MAX,
      MAX,
      u64::from(u32::MAX),
      MAX,
      0,
      0,
      0,
      0
    ]
  );
  // Flags do not come back: a step to apply is found by its key.
  assert_eq!(
    unpack_op(&pack_op(&Op::Prefetch(v))).unwrap(),
    Op::Prefetch(Va { flags: 0, ..v })
  );
}

#[test]
fn bad_words_are_einval() {
  let good = pack_op(&Op::Map(map(1, 2, 3, 4)));
  let e = unpack_op(&good[..OP_WORDS - 1]).unwrap_err();
  assert_eq!(
    (e.errno, e.message.as_str()),
    (Errno::EINVAL, "a packed op has 14 words")
  );
  assert!(unpack_op(&[good.as_slice(), &[0]].concat()).is_err());
  for kind in [4, 5, OP_KIND_MASK] {
    let mut w = good;
    w[OP_AT_HEAD] = kind;
    assert_eq!(
      unpack_op(&w).unwrap_err().message,
      format!("unknown op kind {kind}")
    );
  }
  for at in [OP_AT_A + OP_OBJ, OP_AT_VA + OP_OBJ] {
    let mut w = pack_op(&Op::Unmap(OpUnmap {
      va: va(1, 2, 3, 4, 5),
      keep: false,
    }));
    w[OP_AT_HEAD] = if at == OP_AT_A + OP_OBJ {
      OP_KIND_MAP
    } else {
      OP_KIND_UNMAP
    };
    w[at] = 1 << 32;
    assert_eq!(unpack_op(&w).unwrap_err().message, "object id out of range");
  }
}

#[test]
fn the_layouts_are_consistent() {
  assert_eq!(OP_AT_A, OP_AT_VA + 4);
  assert_eq!(OP_AT_B, OP_AT_A + 4);
  assert_eq!(OP_AT_B + 4, OP_WORDS);
  for flag in [OP_KEEP, OP_HAS_PREV, OP_HAS_NEXT] {
    assert_eq!(flag & OP_KIND_MASK, 0);
    assert!(flag < 1 << OP_FLAGS_SHIFT);
  }
  assert_eq!(BATCH_AT_OFFSET + 1, BATCH_WORDS);
  assert_eq!(BATCH_KIND_MASK, (1 << BATCH_OBJ_SHIFT) - 1);
  // Each slot aligned to its type, inside the head of the buffer, and no
  // two out slots overlap.
  let slots = [
    (IO_ADDR, 8),
    (IO_RANGE, 8),
    (IO_OBJ, 4),
    (IO_OFFSET, 8),
    (IO_SEQ, 8),
    (IO_OUT, 8 * IO_OUT_SLOTS),
    (IO_VA_ADDR, 8),
    (IO_VA_RANGE, 8),
    (IO_VA_OFFSET, 8),
    (IO_VA_SEQ, 8),
    (IO_VA_OBJ, 4),
    (IO_VA_FLAGS, 4),
    (IO_VA_FOUND, 4),
  ];
  for &(at, len) in &slots {
    assert_eq!(at % len.min(8), 0, "slot at {at} is not aligned");
    assert!(at + len <= IO_BYTES);
  }
  let outs = &slots[5..];
  for (i, &(a, la)) in outs.iter().enumerate() {
    for &(b, lb) in &outs[i + 1..] {
      assert!(a + la <= b || b + lb <= a, "out slots at {a} and {b} overlap");
    }
  }
  const { assert!(IO_OBJ + 4 <= IO_OFFSET && IO_RANGE + 8 <= IO_OBJ && IO_OFFSET + 8 <= IO_OUT) };
  const { assert!(IO_OUT_REQUESTS < IO_OUT_SLOTS && IO_OUT_NUMBER == IO_OUT_MAP) };
  const { assert!(IO_OPS_BYTES >= 8 * OP_WORDS && IO_OPS_BYTES.is_multiple_of(8) && IO_BYTES.is_multiple_of(8)) };
}
