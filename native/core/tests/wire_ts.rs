//! Renders the wire layouts of `src/wire.rs` as TypeScript constants and
//! checks them against the checked-in `lib/contract/wire.gen.ts`: the test
//! fails when the two differ. Regenerate the file with
//! `DRMSIM_BLESS=1 cargo test -p drmsim-core --test wire_ts`.
//!
//! The I/O buffer's offsets, bytes in Rust, become indices into the typed
//! array of each slot's type laid over the buffer from byte 0 (`_U64` into a
//! BigUint64Array, `_U32` into a Uint32Array, `_F64` into a Float64Array).

use drmsim_core::wire::*;
use std::fmt::Write;
use std::path::PathBuf;

/// One constant: its TypeScript name, its value as written, its doc comment.
struct Constant {
  name: &'static str,
  value: String,
  doc: &'static str,
}

fn dec(name: &'static str, value: impl Into<u64>, doc: &'static str) -> Constant {
  Constant {
    name,
    value: value.into().to_string(),
    doc,
  }
}

fn hex(name: &'static str, value: u64, doc: &'static str) -> Constant {
  Constant {
    name,
    value: format!("0x{value:x}"),
    doc,
  }
}

/// The index of the `size`-byte element at byte `at`, which must be aligned.
fn index(name: &'static str, at: usize, size: usize, doc: &'static str) -> Constant {
  assert_eq!(at % size, 0, "{name}: byte {at} is not aligned to {size}");
  dec(name, (at / size) as u64, doc)
}

fn n(v: usize) -> u64 {
  v as u64
}

fn sections() -> Vec<(&'static str, Vec<Constant>)> {
  vec![
    (
      "The packed op: OP_WORDS u64 words per op (layout: native/core/src/wire.rs).",
      vec![
        dec("OP_WORDS", n(OP_WORDS), "Words per packed op."),
        dec("OP_KIND_MAP", OP_KIND_MAP, "Kind code of a MAP (bits 0-3 of the head word)."),
        dec("OP_KIND_REMAP", OP_KIND_REMAP, "Kind code of a REMAP."),
        dec("OP_KIND_UNMAP", OP_KIND_UNMAP, "Kind code of an UNMAP."),
        dec("OP_KIND_PREFETCH", OP_KIND_PREFETCH, "Kind code of a PREFETCH."),
        hex("OP_KIND_MASK", OP_KIND_MASK, "The bits of the head word that hold the kind."),
        hex("OP_KEEP", OP_KEEP, "Head-word flag: the unmapped mapping is continued physically."),
        hex("OP_HAS_PREV", OP_HAS_PREV, "Head-word flag: a REMAP has a prev piece (at OP_AT_A)."),
        hex("OP_HAS_NEXT", OP_HAS_NEXT, "Head-word flag: a REMAP has a next piece (at OP_AT_B)."),
        dec("OP_FLAGS_SHIFT", OP_FLAGS_SHIFT, "The named mapping's flags sit in the head word from this bit."),
        dec("OP_AT_HEAD", n(OP_AT_HEAD), "Word of the kind and flags."),
        dec("OP_AT_SEQ", n(OP_AT_SEQ), "Word of the named mapping's seq."),
        dec("OP_AT_VA", n(OP_AT_VA), "The mapping a REMAP, UNMAP or PREFETCH names: addr, range, obj, offset."),
        dec("OP_AT_A", n(OP_AT_A), "The new mapping of a MAP, or the prev piece of a REMAP."),
        dec("OP_AT_B", n(OP_AT_B), "The next piece of a REMAP."),
        dec("OP_ADDR", n(OP_ADDR), "Offset of addr within a mapping's four words."),
        dec("OP_RANGE", n(OP_RANGE), "Offset of range within a mapping's four words."),
        dec("OP_OBJ", n(OP_OBJ), "Offset of obj within a mapping's four words."),
        dec("OP_OFFSET", n(OP_OFFSET), "Offset of offset within a mapping's four words."),
      ],
    ),
    (
      "The packed batch: BATCH_WORDS u64 words per request, [kind | obj << 32, addr, range, offset].",
      vec![
        dec("BATCH_WORDS", n(BATCH_WORDS), "Words per request of a packed batch."),
        dec("BATCH_MAP", BATCH_MAP, "Kind code of a map request."),
        dec("BATCH_UNMAP", BATCH_UNMAP, "Kind code of an unmap request (obj and offset 0)."),
        hex("BATCH_KIND_MASK", BATCH_KIND_MASK, "The bits of the head word that hold the kind."),
        dec("BATCH_OBJ_SHIFT", BATCH_OBJ_SHIFT, "A map request's object id sits in the head word from this bit."),
        dec("BATCH_AT_HEAD", n(BATCH_AT_HEAD), "Word of the kind and object id."),
        dec("BATCH_AT_ADDR", n(BATCH_AT_ADDR), "Word of the addr."),
        dec("BATCH_AT_RANGE", n(BATCH_AT_RANGE), "Word of the range."),
        dec("BATCH_AT_OFFSET", n(BATCH_AT_OFFSET), "Word of the offset."),
      ],
    ),
    (
      "The I/O buffer of the fast calls: sizes in bytes; slots as indices into a view of their type from byte 0.",
      vec![
        dec("IO_BYTES", n(IO_BYTES), "Bytes before the op area."),
        dec("IO_MIN_BYTES", n(IO_MIN_BYTES), "Least size of the buffer fastInit takes."),
        dec("IO_OPS_BYTES", n(IO_OPS_BYTES), "Bytes of the op area the engine gives its buffer."),
        index("IO_ADDR_U64", IO_ADDR, 8, "In: the request's addr."),
        index("IO_RANGE_U64", IO_RANGE, 8, "In: its range."),
        index("IO_OBJ_U32", IO_OBJ, 4, "In: its object id, or a walk's id (step, close)."),
        index("IO_OFFSET_U64", IO_OFFSET, 8, "In: its offset."),
        index("IO_SEQ_F64", IO_SEQ, 8, "In: a mapping's seq (remove, get), in the offset's bytes."),
        dec("IO_OUT", n(IO_OUT), "Out: the byte offset of IO_OUT_SLOTS f64."),
        dec("IO_OUT_SLOTS", n(IO_OUT_SLOTS), "Out: how many f64 slots."),
        dec("IO_OUT_MAP", n(IO_OUT_MAP), "Out slot: map steps."),
        dec("IO_OUT_REMAP", n(IO_OUT_REMAP), "Out slot: remap steps."),
        dec("IO_OUT_UNMAP", n(IO_OUT_UNMAP), "Out slot: unmap steps."),
        dec("IO_OUT_REQUESTS", n(IO_OUT_REQUESTS), "Out slot: requests of a batch applied."),
        dec(
          "IO_OUT_NUMBER",
          n(IO_OUT_NUMBER),
          "Out slot: an op list's length in words (a step: 0 at the end), a walk's id, a warning count.",
        ),
        index("IO_VA_ADDR_U64", IO_VA_ADDR, 8, "Out (tree calls): the mapping's addr."),
        index("IO_VA_RANGE_U64", IO_VA_RANGE, 8, "Out: its range."),
        index("IO_VA_OFFSET_U64", IO_VA_OFFSET, 8, "Out: its offset."),
        index("IO_VA_SEQ_F64", IO_VA_SEQ, 8, "Out: its seq."),
        index("IO_VA_OBJ_U32", IO_VA_OBJ, 4, "Out: its object id."),
        index("IO_VA_FLAGS_U32", IO_VA_FLAGS, 4, "Out: its flags."),
        index("IO_VA_FOUND_U32", IO_VA_FOUND, 4, "Out: 1 when the call answered with a mapping, 0 when a find found none."),
      ],
    ),
  ]
}

fn render() -> String {
  let mut out = String::new();
  out.push_str(
    "// Generated by native/core/tests/wire_ts.rs from native/core/src/wire.rs: do not edit.\n\
     // Regenerate: DRMSIM_BLESS=1 cargo test -p drmsim-core --test wire_ts\n",
  );
  for (title, constants) in sections() {
    write!(out, "\n// {title}\n\n").unwrap();
    for c in constants {
      writeln!(out, "/** {} */\nexport const {} = {}", c.doc, c.name, c.value).unwrap();
    }
  }
  // The hot paths read the constants through this enum: tsc writes a const
  // enum's values into the code that uses it, where an import is a property
  // read of the module's exports on every use.
  out.push_str(
    "\n/** The same constants, written into the code that uses them by tsc. */\nexport const enum Wire {\n",
  );
  for (_, constants) in sections() {
    for c in constants {
      writeln!(out, "  {} = {},", c.name, c.value).unwrap();
    }
  }
  out.push_str("}\n");
  out
}

#[test]
fn wire_gen_ts_is_up_to_date() {
  let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../lib/contract/wire.gen.ts");
  let want = render();
  if std::env::var_os("DRMSIM_BLESS").is_some() {
    std::fs::write(&path, &want).unwrap();
    return;
  }
  let have = std::fs::read_to_string(&path).unwrap_or_default();
  assert!(
    have == want,
    "{} differs from the layouts of native/core/src/wire.rs; regenerate it with \
     `DRMSIM_BLESS=1 cargo test -p drmsim-core --test wire_ts`",
    path.display()
  );
}
