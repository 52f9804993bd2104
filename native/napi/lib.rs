//! The N-API binding: converts at the edge and forwards to drmsim-core.
//!
//! u64 values cross as BigInt and are checked to be lossless and unsigned.
//! Errors carry the kernel errno name as their `code`. Every export catches
//! panics, so nothing a caller passes can abort the process. Op lists cross as
//! one packed BigUint64Array (see `OP_WORDS`), not one object per op.

#![deny(clippy::all)]

mod alloc;
mod device;
mod fast;

use drmsim_core::gpuvm::{GpuVm, Op, OpMap, OpRemap, OpUnmap, SmCursor, Va};
use drmsim_core::vmbind::{self, Params, Trace};
use napi::bindgen_prelude::{BigInt, ObjectFinalize, Unknown};
use napi::{sys, Env};
use napi_derive::napi;
use std::cell::{Cell, RefCell, RefMut};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The error code JavaScript sees on `err.code`.
pub struct Code(&'static str);

impl AsRef<str> for Code {
  fn as_ref(&self) -> &str {
    self.0
  }
}

type Result<T> = napi::Result<T, Code>;

fn to_js(e: drmsim_core::Error) -> napi::Error<Code> {
  napi::Error::new(Code(e.errno.name()), e.message)
}

fn einval(message: String) -> napi::Error<Code> {
  napi::Error::new(Code("EINVAL"), message)
}

fn u64_arg(v: &BigInt, what: &str) -> Result<u64> {
  let (signed, value, lossless) = v.get_u64();
  if signed && value != 0 || !lossless {
    return Err(einval(format!("{what} must be a bigint in [0, 2^64)")));
  }
  Ok(value)
}

/// The u64 arguments of a map request.
fn map_args(addr: &BigInt, range: &BigInt, offset: &BigInt) -> Result<(u64, u64, u64)> {
  Ok((
    u64_arg(addr, "addr")?,
    u64_arg(range, "range")?,
    u64_arg(offset, "offset")?,
  ))
}

fn big(v: u64) -> BigInt {
  BigInt::from(v)
}

#[napi(object)]
pub struct VaRecord {
  pub addr: BigInt,
  pub range: BigInt,
  pub obj: u32,
  pub offset: BigInt,
  pub seq: f64,
  pub flags: u32,
}

fn va_record(va: Va) -> VaRecord {
  VaRecord {
    addr: big(va.addr),
    range: big(va.range),
    obj: va.obj,
    offset: big(va.offset),
    seq: va.seq as f64,
    flags: va.flags,
  }
}

#[napi(object)]
pub struct WarningRecord {
  pub kind: String,
  pub message: String,
  pub rule: String,
}

/// Words per packed op:
/// `[kind | keep<<4 | has_prev<<5 | has_next<<6 | va.flags<<32, va.seq, va.addr, va.range,
///   va.obj, va.offset, a.addr, a.range, a.obj, a.offset, b.addr, b.range,
///   b.obj, b.offset]`, where kind is 0 map, 1 remap, 2 unmap, 3 prefetch,
/// `a` is the new mapping of a MAP or the prev piece of a REMAP, and `b` the
/// next piece.
pub const OP_WORDS: usize = 14;

pub(crate) fn pack_op(out: &mut Vec<u64>, op: &Op) {
  let mut w = [0u64; OP_WORDS];
  let put_va = |w: &mut [u64; OP_WORDS], va: &Va| {
    w[0] |= u64::from(va.flags) << 32;
    w[1] = va.seq;
    w[2] = va.addr;
    w[3] = va.range;
    w[4] = u64::from(va.obj);
    w[5] = va.offset;
  };
  let put_map = |w: &mut [u64; OP_WORDS], at: usize, m: &OpMap| {
    w[at] = m.addr;
    w[at + 1] = m.range;
    w[at + 2] = u64::from(m.obj);
    w[at + 3] = m.offset;
  };
  match op {
    Op::Map(m) => put_map(&mut w, 6, m),
    Op::Remap(r) => {
      w[0] = 1 | u64::from(r.unmap.keep) << 4;
      put_va(&mut w, &r.unmap.va);
      if let Some(p) = &r.prev {
        w[0] |= 1 << 5;
        put_map(&mut w, 6, p);
      }
      if let Some(n) = &r.next {
        w[0] |= 1 << 6;
        put_map(&mut w, 10, n);
      }
    }
    Op::Unmap(u) => {
      w[0] = 2 | u64::from(u.keep) << 4;
      put_va(&mut w, &u.va);
    }
    Op::Prefetch(va) => {
      w[0] = 3;
      put_va(&mut w, va);
    }
  }
  out.extend_from_slice(&w);
}

pub(crate) fn unpack_op(w: &[u64]) -> Result<Op> {
  if w.len() != OP_WORDS {
    return Err(einval(format!("a packed op has {OP_WORDS} words")));
  }
  let obj = |v: u64| u32::try_from(v).map_err(|_| einval("object id out of range".into()));
  let va = || -> Result<Va> {
    Ok(Va {
      seq: w[1],
      addr: w[2],
      range: w[3],
      obj: obj(w[4])?,
      offset: w[5],
      flags: 0,
      slot: u32::MAX,
    })
  };
  let map = |at: usize| -> Result<OpMap> {
    Ok(OpMap {
      addr: w[at],
      range: w[at + 1],
      obj: obj(w[at + 2])?,
      offset: w[at + 3],
    })
  };
  let keep = w[0] & (1 << 4) != 0;
  Ok(match w[0] & 0xf {
    0 => Op::Map(map(6)?),
    1 => Op::Remap(OpRemap {
      prev: if w[0] & (1 << 5) != 0 { Some(map(6)?) } else { None },
      next: if w[0] & (1 << 6) != 0 {
        Some(map(10)?)
      } else {
        None
      },
      unmap: OpUnmap { va: va()?, keep },
    }),
    2 => Op::Unmap(OpUnmap { va: va()?, keep }),
    3 => Op::Prefetch(va()?),
    k => return Err(einval(format!("unknown op kind {k}"))),
  })
}

/// The state of one VA space, shared by its `NativeVm` handle and the
/// registry of the fast entry points (fast.rs), which name it by id.
pub(crate) struct Shared {
  pub(crate) state: RefCell<VmState>,
  pub(crate) external: External,
}

pub(crate) struct VmState {
  pub(crate) vm: GpuVm,
  /// Open walks, few at a time: a BTreeMap, which allocates nothing while
  /// empty and takes 24 bytes of each VA space where a HashMap took 48.
  cursors: BTreeMap<u32, SmCursor>,
  next_cursor: u32,
}

/// Report changes to V8 in steps of this size, not on every mapping.
const REPORT_STEP: i64 = 256 * 1024;

/// The native memory an object of the binding (a VA space, a device, an
/// allocator) has reported to V8 as external memory, so that the garbage
/// collector weighs what its small JavaScript handle really holds: its first
/// size at once, then changes in steps of `REPORT_STEP`, and all of it given
/// back by its finalizer.
#[derive(Default)]
pub(crate) struct External {
  /// Bytes reported to V8 so far.
  reported: Cell<i64>,
  /// Set by the finalizer: nothing more is reported.
  finalized: Cell<bool>,
}

impl External {
  /// Tells V8 how much native memory the object holds now (`heap`).
  pub(crate) fn account(&self, env: sys::napi_env, heap: usize) {
    let (now, reported) = (heap as i64, self.reported.get());
    let due = now != reported && (reported == 0 || now == 0 || (now - reported).abs() >= REPORT_STEP);
    if !due || self.finalized.get() {
      return;
    }
    let mut total = 0i64;
    // SAFETY: env is the env of the call in progress.
    if unsafe { sys::napi_adjust_external_memory(env, now - reported, &mut total) } == sys::Status::napi_ok {
      self.reported.set(now);
    }
  }

  /// Gives everything back (the object's finalizer); nothing more is reported.
  pub(crate) fn release(&self, env: &Env) -> napi::Result<()> {
    self.finalized.set(true);
    env.adjust_external_memory(-self.reported.replace(0))?;
    Ok(())
  }

  /// Bytes reported so far (the `externalBytes` getters).
  pub(crate) fn bytes(&self) -> f64 {
    self.reported.get() as f64
  }
}

/// An object of the binding that reports its native memory (`External`):
/// the device and the allocators.
pub(crate) trait Reported: Sized {
  fn external(&self) -> &External;
  fn heap_bytes(&self) -> usize;

  /// Reports the heap and the object itself (napi-rs boxes it).
  fn report(&self, env: &Env) {
    self
      .external()
      .account(env.raw(), self.heap_bytes() + std::mem::size_of::<Self>());
  }

  /// Runs a call that may change the object, then reports its heap.
  fn changing<T>(&mut self, env: &Env, f: impl FnOnce(&mut Self) -> T) -> T {
    let out = f(self);
    self.report(env);
    out
  }
}

/// One VA space of the native engine. Its heap is reported to V8 as external
/// memory, so the garbage collector weighs what a handle really holds.
#[napi(custom_finalize)]
pub struct NativeVm {
  shared: Rc<Shared>,
  id: f64,
}

impl ObjectFinalize for NativeVm {
  fn finalize(self, env: Env) -> napi::Result<()> {
    fast::unregister(self.id);
    self.shared.external.release(&env)
  }
}

fn busy() -> napi::Error<Code> {
  napi::Error::new(Code("EBUSY"), "the VA space is in use by another call")
}

impl NativeVm {
  /// The VA space's state, for one call. No method calls back into
  /// JavaScript, so no other call can hold it; if one ever did, the error is
  /// EBUSY.
  fn state(&self) -> Result<RefMut<'_, VmState>> {
    self.shared.state.try_borrow_mut().map_err(|_| busy())
  }

  /// Runs `f` on the state, then reports the heap's new size to V8.
  fn changing<T>(&self, env: &Env, f: impl FnOnce(&mut VmState) -> Result<T>) -> Result<T> {
    let mut state = self.state()?;
    let out = f(&mut state);
    let heap = state.vm.heap_bytes();
    drop(state);
    self.shared.external.account(env.raw(), heap);
    out
  }

  /// Runs a query on a VA space that must still be alive.
  fn alive<T>(&self, f: impl FnOnce(&mut VmState) -> Result<T>) -> Result<T> {
    let mut state = self.state()?;
    state.vm.alive().map_err(to_js)?;
    f(&mut state)
  }
}

fn key(addr: &BigInt, seq: f64) -> Result<(u64, u64)> {
  if !(seq >= 0.0 && seq.fract() == 0.0 && seq <= 9007199254740991.0) {
    return Err(einval("seq must be a safe non-negative integer".into()));
  }
  Ok((u64_arg(addr, "addr")?, seq as u64))
}

/// The open split/merge walks of a VA space, named by number (fast.rs steps
/// them for JavaScript).
impl VmState {
  pub(crate) fn open(&mut self, cursor: SmCursor) -> u32 {
    let id = self.next_cursor;
    self.next_cursor = self.next_cursor.wrapping_add(1);
    self.cursors.insert(id, cursor);
    id
  }

  /// The next step of walk `id`, or `Ok(None)` when it is over (the walk is
  /// closed then). A walk that is not open is EINVAL.
  pub(crate) fn step(&mut self, id: u32) -> Result<Option<Op>> {
    let VmState { vm, cursors, .. } = self;
    let Some(cursor) = cursors.get_mut(&id) else {
      return Err(einval(format!("no open split/merge walk #{id}")));
    };
    let op = cursor.step(vm);
    if op.is_none() {
      cursors.remove(&id);
    }
    Ok(op)
  }

  pub(crate) fn close(&mut self, id: u32) {
    self.cursors.remove(&id);
  }
}

#[napi]
impl NativeVm {
  #[napi(constructor, catch_unwind)]
  pub fn new(
    name: String,
    start: BigInt,
    range: BigInt,
    reserve_offset: Option<BigInt>,
    reserve_range: Option<BigInt>,
  ) -> Result<Self> {
    let reserve = match (reserve_offset, reserve_range) {
      (Some(o), Some(r)) => Some((u64_arg(&o, "reserve.offset")?, u64_arg(&r, "reserve.range")?)),
      _ => None,
    };
    let vm = GpuVm::new(
      &name,
      u64_arg(&start, "start")?,
      u64_arg(&range, "range")?,
      reserve,
    );
    let shared = Rc::new(Shared {
      state: RefCell::new(VmState {
        vm,
        cursors: BTreeMap::new(),
        next_cursor: 1,
      }),
      external: External::default(),
    });
    let id = fast::register(shared.clone());
    Ok(NativeVm { shared, id })
  }

  /// The id by which the fast entry points (`fastInit`) name this VA space.
  #[napi(getter)]
  pub fn id(&self) -> f64 {
    self.id
  }

  #[napi(getter)]
  pub fn name(&self) -> Result<String> {
    Ok(self.state()?.vm.name().to_string())
  }

  /// Bytes of native memory this VA space has reported to V8.
  #[napi(getter)]
  pub fn external_bytes(&self) -> f64 {
    self.shared.external.bytes()
  }

  /// Walks opened and neither ended nor closed (an abandoned one is closed
  /// when JavaScript collects its cursor).
  #[napi(getter)]
  pub fn open_walks(&self) -> Result<u32> {
    Ok(self.state()?.cursors.len() as u32)
  }

  #[napi(catch_unwind)]
  pub fn insert(&self, env: Env, addr: BigInt, range: BigInt, obj: u32, offset: BigInt) -> Result<VaRecord> {
    let (a, r, o) = map_args(&addr, &range, &offset)?;
    self.changing(&env, |s| s.vm.insert(a, r, obj, o).map(va_record).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn remove(&self, env: Env, addr: BigInt, seq: f64) -> Result<VaRecord> {
    let key = key(&addr, seq)?;
    self.changing(&env, |s| s.vm.remove(key).map(va_record).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn kernel_node(&self) -> Result<Option<VaRecord>> {
    self.alive(|s| Ok(s.vm.kernel_node().map(va_record)))
  }

  #[napi(catch_unwind)]
  pub fn find(&self, addr: BigInt, range: BigInt) -> Result<Option<VaRecord>> {
    self.alive(|s| {
      let (a, r) = (u64_arg(&addr, "addr")?, u64_arg(&range, "range")?);
      Ok(s.vm.find(a, r).map(va_record))
    })
  }

  #[napi(catch_unwind)]
  pub fn find_first(&self, addr: BigInt, range: BigInt) -> Result<Option<VaRecord>> {
    self.alive(|s| {
      let (a, r) = (u64_arg(&addr, "addr")?, u64_arg(&range, "range")?);
      Ok(s.vm.find_first(a, r).map(va_record))
    })
  }

  #[napi(catch_unwind)]
  pub fn find_prev(&self, start: BigInt) -> Result<Option<VaRecord>> {
    self.alive(|s| Ok(s.vm.find_prev(u64_arg(&start, "start")?).map(va_record)))
  }

  #[napi(catch_unwind)]
  pub fn find_next(&self, end: BigInt) -> Result<Option<VaRecord>> {
    self.alive(|s| Ok(s.vm.find_next(u64_arg(&end, "end")?).map(va_record)))
  }

  #[napi(catch_unwind)]
  pub fn interval_empty(&self, addr: BigInt, range: BigInt) -> Result<bool> {
    self.alive(|s| {
      Ok(
        s.vm
          .interval_empty(u64_arg(&addr, "addr")?, u64_arg(&range, "range")?),
      )
    })
  }

  #[napi(catch_unwind)]
  pub fn range_valid(&self, addr: BigInt, range: BigInt) -> Result<bool> {
    self.alive(|s| {
      Ok(
        s.vm
          .range_valid(u64_arg(&addr, "addr")?, u64_arg(&range, "range")?),
      )
    })
  }

  #[napi(catch_unwind)]
  pub fn list(&self) -> Result<Vec<VaRecord>> {
    self.alive(|s| Ok(s.vm.iter().map(va_record).collect()))
  }

  #[napi(catch_unwind)]
  pub fn list_range(&self, start: BigInt, end: BigInt) -> Result<Vec<VaRecord>> {
    self.alive(|s| {
      let (a, e) = (u64_arg(&start, "start")?, u64_arg(&end, "end")?);
      Ok(s.vm.iter_range(a, e).map(va_record).collect())
    })
  }

  #[napi(catch_unwind)]
  pub fn count(&self) -> Result<u32> {
    self.alive(|s| Ok(s.vm.len() as u32))
  }

  #[napi(catch_unwind)]
  pub fn link(&self, addr: BigInt, seq: f64) -> Result<()> {
    let key = key(&addr, seq)?;
    self.state()?.vm.link(key).map_err(to_js)
  }

  #[napi(catch_unwind)]
  pub fn unlink(&self, addr: BigInt, seq: f64) -> Result<()> {
    let key = key(&addr, seq)?;
    self.state()?.vm.unlink(key).map_err(to_js)
  }

  #[napi(catch_unwind)]
  pub fn is_linked(&self, addr: BigInt, seq: f64) -> Result<bool> {
    let key = key(&addr, seq)?;
    self.alive(|s| Ok(s.vm.is_linked(key)))
  }

  #[napi(catch_unwind)]
  pub fn gem_vas(&self, obj: u32) -> Result<Vec<VaRecord>> {
    self.alive(|s| Ok(s.vm.gem_vas(obj).into_iter().map(va_record).collect()))
  }

  #[napi(catch_unwind)]
  pub fn set_invalidated(&self, addr: BigInt, seq: f64, invalidated: bool) -> Result<()> {
    let key = key(&addr, seq)?;
    self.state()?.vm.set_invalidated(key, invalidated).map_err(to_js)
  }

  #[napi(catch_unwind)]
  pub fn take_warnings(&self) -> Result<Vec<WarningRecord>> {
    let mut s = self.state()?;
    Ok(
      s.vm
        .take_warnings()
        .into_iter()
        .map(|w| WarningRecord {
          kind: w.kind.name().into(),
          message: w.message,
          rule: w.kind.rule().into(),
        })
        .collect(),
    )
  }

  #[napi(catch_unwind)]
  pub fn destroy(&self, env: Env) -> Result<()> {
    self.changing(&env, |s| {
      s.cursors.clear();
      s.vm.destroy().map_err(to_js)
    })
  }
}

/// Takes this thread's I/O buffer (an ArrayBuffer of at least 240 bytes,
/// kept alive from now on) and returns the raw entry points of the hot calls
/// (native/napi/fast.rs), with the buffer they use as `io`: the one the
/// thread already has if it is still usable (every copy of the package in a
/// thread shares it), else `io`. Each takes a VA space id (`NativeVm.id`), reads
/// its arguments from the buffer and writes its results (step counts, the
/// mapping a tree call inserted, removed or found, a walk's id, or ops,
/// packed, past its first 128 bytes) back to it, and throws an Error with
/// the errno as `code` when it fails. An op list too long for the buffer is
/// returned as a BigUint64Array instead.
#[napi(
  ts_args_type = "io: ArrayBuffer",
  ts_return_type = "{ io: ArrayBuffer; bind(id: number): void; unbind(id: number): void; bindBatch(id: number, words: BigUint64Array, perRequest: Uint32Array | null): void; insert(id: number): void; remove(id: number): void; get(id: number): void; find(id: number): void; findFirst(id: number): void; smMapOps(id: number): BigUint64Array | undefined; smUnmapOps(id: number): BigUint64Array | undefined; prefetchOps(id: number): BigUint64Array | undefined; gemUnmapOps(id: number): BigUint64Array | undefined; smMap(id: number): void; smUnmap(id: number): void; step(id: number): BigUint64Array | undefined; close(id: number): void; apply(id: number): void; warnings(id: number): void }"
)]
pub fn fast_init<'env>(env: &'env Env, io: Unknown<'env>) -> napi::Result<Unknown<'env>> {
  fast::init(env, io)
}

/// Makes the next call of a fast entry point panic, to test that the panic
/// becomes a JavaScript error.
#[napi]
pub fn force_fast_panic_for_test() {
  fast::panic_next_call();
}

#[napi(object)]
pub struct VmbindOptions {
  pub seed: BigInt,
  pub ops: BigInt,
  pub window: BigInt,
  pub max_pages: BigInt,
  pub objects: BigInt,
  pub map_percent: BigInt,
  /// 'full', 'hash' or 'off'.
  pub trace: String,
}

#[napi(object)]
pub struct VmbindResult {
  /// The trace lines (mode 'full' only).
  pub trace: Option<String>,
  /// The summary lines.
  pub summary: String,
  /// Nanoseconds spent in the request loop.
  pub loop_ns: f64,
}

/// Replays the canonical workload entirely inside Rust: one boundary crossing
/// per run.
#[napi(catch_unwind)]
pub fn vmbind_run(options: VmbindOptions) -> Result<VmbindResult> {
  let params = Params {
    seed: u64_arg(&options.seed, "seed")?,
    ops: u64_arg(&options.ops, "ops")?,
    window: u64_arg(&options.window, "window")?,
    max_pages: u64_arg(&options.max_pages, "maxPages")?,
    objects: u64_arg(&options.objects, "objects")?,
    map_percent: u64_arg(&options.map_percent, "mapPercent")?,
  };
  let trace = match options.trace.as_str() {
    "full" => Trace::Full,
    "hash" => Trace::Hash,
    "off" => Trace::Off,
    other => {
      return Err(einval(format!(
        "trace must be 'full', 'hash' or 'off', not '{other}'"
      )))
    }
  };
  let mut out = Vec::new();
  let run = vmbind::run(&params, trace, &mut out).map_err(to_js)?;
  Ok(VmbindResult {
    trace: (trace == Trace::Full).then(|| String::from_utf8_lossy(&out).into_owned()),
    summary: run.summary.render(),
    loop_ns: run.loop_time.as_nanos() as f64,
  })
}

/// Panics on purpose, to prove that a panic becomes a JavaScript error.
#[napi(catch_unwind)]
pub fn force_panic_for_test() {
  panic!("drmsim: deliberate panic to test the boundary");
}
