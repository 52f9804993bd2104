//! `madvise_ops` against the table of lib/contract/hub.md.

use crate::gpuvm::hub::tests::*;
use crate::gpuvm::ObjId;

// ---- madvise ----------------------------------------------------------------------------

/// The table of hub.md for a request [10, 20) pages of object 5 at 0x100000.
fn madvise(mappings: &[(u64, u64, ObjId)]) -> Vec<Op> {
  let mut vm = vm(0);
  for &(page, end, obj) in mappings {
    let off = if obj == 0 { 0x7000 } else { 0 };
    vm.insert(at(page), at(end - page), obj, off).unwrap();
  }
  let ops = vm.madvise_ops(at(10), at(10), 5, 0x10_0000).unwrap();
  assert_eq!(vm.len(), mappings.len() + 1);
  ops
}

fn old(page: u64, end: u64, seq: u64) -> Va {
  Va {
    addr: at(page),
    range: at(end - page),
    obj: 0,
    offset: 0x7000,
    seq,
    flags: 0,
    slot: 0,
  }
}

/// Compares op lists without the leaf hints of the mappings they name.
fn same(mut got: Vec<Op>, want: Vec<Op>) {
  for op in &mut got {
    if let Op::Remap(r) = op {
      r.unmap.va.slot = 0;
    }
  }
  assert_eq!(got, want);
}

fn remap(page: u64, end: u64, prev: bool, next: bool) -> Op {
  Op::Remap(OpRemap {
    prev: prev.then(|| OpMap {
      addr: at(page),
      range: at(10) - at(page),
      obj: 0,
      offset: 0x7000,
    }),
    next: next.then(|| OpMap {
      addr: at(20),
      range: at(end) - at(20),
      obj: 0,
      offset: 0x7000 + at(20) - at(page),
    }),
    unmap: OpUnmap {
      va: old(page, end, 1),
      keep: false,
    },
  })
}

fn map(addr: u64, range: u64, obj: ObjId, offset: u64) -> Op {
  Op::Map(OpMap {
    addr,
    range,
    obj,
    offset,
  })
}

const REQ: fn() -> Op = || map(at(10), at(10), 5, 0x10_0000);

#[test]
fn madvise_rows_starting_at_the_request() {
  same(madvise(&[(10, 15, 0)]), vec![]);
  same(madvise(&[(10, 20, 0)]), vec![]);
  same(madvise(&[(10, 25, 0)]), vec![remap(10, 25, false, true), REQ()]);
}

#[test]
fn madvise_rows_starting_before_the_request() {
  same(madvise(&[(5, 20, 0)]), vec![remap(5, 20, true, false), REQ()]);
  same(madvise(&[(5, 25, 0)]), vec![remap(5, 25, true, true), REQ()]);
  same(
    madvise(&[(5, 15, 0)]),
    vec![remap(5, 15, true, false), map(at(10), at(5), 0, 0)],
  );
}

#[test]
fn madvise_rows_starting_inside_the_request() {
  same(madvise(&[(12, 18, 0)]), vec![]);
  same(
    madvise(&[(15, 25, 0)]),
    vec![remap(15, 25, false, true), map(at(15), at(5), 0, 0)],
  );
}

#[test]
fn madvise_skips_mappings_with_an_object_and_makes_at_most_two_remaps_and_maps() {
  same(madvise(&[(5, 25, 1)]), vec![]);
  same(madvise(&[(10, 20, 3)]), vec![]);
  let mut vm = vm(0);
  vm.insert(at(5), at(2), 0, 0x7000).unwrap();
  vm.insert(at(7), at(5), 0, 0).unwrap();
  vm.insert(at(12), at(2), 4, 0).unwrap();
  vm.insert(at(14), at(3), 0, 0).unwrap();
  vm.insert(at(17), at(13), 0, 0x2000).unwrap();
  let va = |page, pages, offset, seq| Va {
    addr: at(page),
    range: at(pages),
    obj: 0,
    offset,
    seq,
    flags: 0,
    slot: 0,
  };
  same(
    vm.madvise_ops(at(10), at(10), 5, 0x10_0000).unwrap(),
    vec![
      Op::Remap(OpRemap {
        prev: Some(OpMap {
          addr: at(7),
          range: at(3),
          obj: 0,
          offset: 0,
        }),
        next: None,
        unmap: OpUnmap {
          va: va(7, 5, 0, 2),
          keep: false,
        },
      }),
      map(at(10), at(2), 0, 0),
      Op::Remap(OpRemap {
        prev: None,
        next: Some(OpMap {
          addr: at(20),
          range: at(10),
          obj: 0,
          offset: 0x2000 + at(3),
        }),
        unmap: OpUnmap {
          va: va(17, 13, 0x2000, 5),
          keep: false,
        },
      }),
      map(at(17), at(3), 0, 0),
    ],
  );
  // The steps apply: the request's range is split out of the object-less mappings.
  let ops = vm.madvise_ops(at(10), at(10), 5, 0x10_0000).unwrap();
  for op in &ops {
    vm.apply(op).unwrap();
  }
  let spans: Vec<(u64, u64)> = vm.iter().map(|v| (v.addr / P, v.end() / P)).collect();
  assert_eq!(
    spans,
    [
      (0, 1),
      (5, 7),
      (7, 10),
      (10, 12),
      (12, 14),
      (14, 17),
      (17, 20),
      (20, 30)
    ]
  );
}

#[test]
fn madvise_validates_as_sm_map() {
  let mut vm = vm(0);
  assert_eq!(errno(vm.madvise_ops(0, 2 * P, 0, 0)), Errno::EINVAL);
  assert_eq!(errno(vm.madvise_ops(1 << 48, P, 0, 0)), Errno::EINVAL);
  assert_eq!(errno(vm.madvise_ops(u64::MAX, 2, 0, 0)), Errno::EINVAL);
  assert!(vm.take_warnings().is_empty());
  assert!(vm.madvise_ops(at(10), 0, 0, 0).unwrap().is_empty());
}
