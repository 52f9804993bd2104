//! The raw entry points of the hot calls: `bind`, `unbind` and a batch of
//! them, the VA-tree calls `insert`, `remove`, `get`, `find` and `findFirst`,
//! the op lists (`smMapOps`, `smUnmapOps`, `prefetchOps`, `gemUnmapOps`),
//! step-by-step walks (`smMap`, `smUnmap`, `step`, `close`), `apply` and
//! `warnings` (how many are pending), written on Node-API itself
//! (`napi::sys`) instead of napi-rs's generated glue, whose class dispatch
//! alone costs about 600 ns a call (and whose typed arrays over Rust vectors
//! several microseconds).
//!
//! - A VA space is named by a number, its id (`NativeVm.id`), looked up in a
//!   per-thread registry of generation-tagged slots: an id of a VA space that
//!   was finalized, or one never handed out, is an EINVAL error, never a crash.
//! - Arguments and results travel through one per-thread I/O buffer, an
//!   `ArrayBuffer` of at least `IO_BYTES` that JavaScript hands to
//!   `fastInit(io)` once and then reads and writes through typed-array views
//!   (layout at `IO_BYTES`). The first one stays: a later `fastInit` (another
//!   copy of the package in the thread) is handed it back. The functions take nothing but the id (and, for
//!   a batch, its arrays), and return undefined. The tree calls write the
//!   mapping they insert, remove or find back to the buffer, whole, so that
//!   JavaScript builds its record without another call. The op lists write
//!   their packed ops (`OP_WORDS` words a step) to the buffer past
//!   `IO_BYTES`, and return a fresh BigUint64Array only when they do not fit
//!   there: a new typed array of that size costs about a microsecond, the
//!   call itself a tenth of that. A walk's step is written there too, and
//!   `apply` reads its op from there.
//! - On failure they throw the same error a napi-rs method throws (an `Error`
//!   whose `code` is the errno name), so one wrapper turns both into a
//!   DrmError. A panic is caught and thrown as an `Error` too; nothing unwinds
//!   into Node.
//!
//! Memory that JavaScript owns (the I/O buffer, the batch arrays) is only
//! touched through raw pointers, read or written one value at a time, and
//! never through a Rust reference: no reference can alias another view of
//! the same bytes. The I/O buffer cannot be shared with another thread (a
//! SharedArrayBuffer is refused); the batch arrays can, and are accessed
//! atomically.

use crate::{pack_op, unpack_op, Shared, OP_WORDS};
use drmsim_core::gpuvm::{Op, OpCounts, Va, NO_OBJ};
use napi::bindgen_prelude::{Env, Unknown};
use napi::sys;
use napi::JsValue;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Least size of the I/O buffer. Layout, in the platform's byte order:
///
/// | bytes   | in                                  | out                                        |
/// | ------- | ----------------------------------- | ------------------------------------------ |
/// | 0..8    | addr (u64)                          |                                            |
/// | 8..16   | range (u64)                         |                                            |
/// | 16..20  | obj (u32, bind, insert, op lists); walk id (step, close) |                       |
/// | 24..32  | offset (u64, bind, insert, smMapOps); seq (f64, remove, get) |                   |
/// | 32..64  |                                     | map, remap, unmap, requests (4 f64)        |
/// | 64..88  |                                     | tree calls: the mapping's addr, range, offset (u64) |
/// | 88..96  |                                     | its seq (f64)                              |
/// | 96..108 |                                     | its obj, its flags, found: 1 or 0 (3 u32)  |
///
/// The counts are f64 so that JavaScript reads them as plain numbers; a batch
/// writes its totals and how many of its requests it applied. In the `map`
/// slot, an op list written past `IO_BYTES` gives its length in words (a
/// step: 0 when the walk is over), `smMap`/`smUnmap` the walk's id and
/// `warnings` the count. The tree calls write the mapping (`found` 0 when a
/// find found none, and nothing else).
pub const IO_BYTES: usize = 128;
/// Least size of the buffer handed to `fastInit`: room for one op past
/// `IO_BYTES` (a walk's step, `apply`'s op).
pub const IO_MIN: usize = IO_BYTES + 8 * OP_WORDS;
const IO_ADDR: usize = 0;
const IO_RANGE: usize = 8;
const IO_OBJ: usize = 16;
const IO_OFFSET: usize = 24;
const IO_SEQ: usize = 24;
const IO_OUT: usize = 32;
const IO_VA: usize = 64;
const IO_VA_SEQ: usize = 88;
const IO_VA_OBJ: usize = 96;
const IO_VA_FLAGS: usize = 100;
const IO_VA_FOUND: usize = 104;

/// Words per request of a packed batch: `[kind | obj << 32, addr, range,
/// offset]`, kind 0 for a map request, 1 for an unmap request (whose obj and
/// offset are 0).
pub const BATCH_WORDS: usize = 4;
const BATCH_MAP: u64 = 0;
const BATCH_UNMAP: u64 = 1;

// ---- the registry of VA spaces -------------------------------------------

/// Ids are `generation * 2^32 + slot`; generations stay below 2^21 so that
/// every id is a safe integer in JavaScript. A slot whose generation is used
/// up is retired, never reused.
const GEN_LIMIT: u32 = 1 << 21;
const SLOT_SPAN: f64 = 4294967296.0;

struct Slot {
  generation: u32,
  vm: Option<Rc<Shared>>,
}

#[derive(Default)]
struct Registry {
  slots: Vec<Slot>,
  free: Vec<u32>,
}

impl Registry {
  fn insert(&mut self, vm: Rc<Shared>) -> f64 {
    let index = match self.free.pop() {
      Some(i) => i,
      None => {
        self.slots.push(Slot {
          generation: 0,
          vm: None,
        });
        (self.slots.len() - 1) as u32
      }
    };
    let slot = &mut self.slots[index as usize];
    slot.generation += 1;
    slot.vm = Some(vm);
    f64::from(slot.generation) * SLOT_SPAN + f64::from(index)
  }

  /// The slot an id names, if it is a whole number an id can be.
  fn locate(id: f64) -> Option<(usize, u32)> {
    // `as` saturates (NaN becomes 0); comparing back refuses fractions.
    let whole = id as u64;
    if whole as f64 != id || whole >> 32 == 0 || whole >> 32 >= u64::from(GEN_LIMIT) {
      return None;
    }
    Some(((whole & 0xffff_ffff) as usize, (whole >> 32) as u32))
  }

  fn get(&self, id: f64) -> Option<Rc<Shared>> {
    let (index, generation) = Self::locate(id)?;
    let slot = self.slots.get(index)?;
    if slot.generation != generation {
      return None;
    }
    slot.vm.clone()
  }

  fn remove(&mut self, id: f64) -> Option<Rc<Shared>> {
    let (index, generation) = Self::locate(id)?;
    let slot = self.slots.get_mut(index)?;
    if slot.generation != generation {
      return None;
    }
    let vm = slot.vm.take();
    if vm.is_some() && slot.generation + 1 < GEN_LIMIT {
      self.free.push(index as u32);
    }
    vm
  }
}

/// The I/O buffer of this thread: the env that registered it and a strong
/// reference to it (both null until `fastInit`).
#[derive(Clone, Copy)]
struct Io {
  env: sys::napi_env,
  buffer: sys::napi_ref,
}

struct PerThread {
  registry: RefCell<Registry>,
  io: Cell<Io>,
  /// The envs given a cleanup hook (Node refuses a hook registered twice).
  hooked: RefCell<Vec<usize>>,
  /// Test hook: the next fast call panics (`forceFastPanicForTest`).
  panic_next: Cell<bool>,
}

thread_local! {
  static FAST: PerThread = PerThread {
    registry: RefCell::new(Registry::default()),
    io: Cell::new(Io { env: ptr::null_mut(), buffer: ptr::null_mut() }),
    hooked: RefCell::new(Vec::new()),
    panic_next: Cell::new(false),
  };
}

/// Registers a VA space; returns its id.
pub(crate) fn register(vm: Rc<Shared>) -> f64 {
  FAST.with(|f| f.registry.borrow_mut().insert(vm))
}

/// Forgets a VA space (its finalizer). Safe to call during thread teardown.
pub(crate) fn unregister(id: f64) {
  // The registry is never borrowed across a Node-API call, so a finalizer
  // cannot find it borrowed; if one ever did, the slot would just stay taken.
  let _ = FAST.try_with(|f| {
    let vm = f.registry.try_borrow_mut().ok().and_then(|mut r| r.remove(id));
    drop(vm);
  });
}

/// Makes the next fast call panic, to test that the panic becomes a
/// JavaScript error.
pub(crate) fn panic_next_call() {
  FAST.with(|f| f.panic_next.set(true));
}

// ---- failures ------------------------------------------------------------

/// An error to throw: the errno name (the JS `code`) and the message.
struct Failure {
  code: &'static str,
  message: String,
}

impl From<drmsim_core::Error> for Failure {
  fn from(e: drmsim_core::Error) -> Self {
    Failure {
      code: e.errno.name(),
      message: e.message,
    }
  }
}

/// The binding's own errors (an op that does not unpack, a walk not open).
impl From<napi::Error<crate::Code>> for Failure {
  fn from(e: napi::Error<crate::Code>) -> Self {
    Failure {
      code: e.status.0,
      message: e.reason,
    }
  }
}

fn einval(message: impl Into<String>) -> Failure {
  Failure {
    code: "EINVAL",
    message: message.into(),
  }
}

fn check(status: sys::napi_status, what: &str) -> Result<(), Failure> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(einval(format!("{what} (Node-API status {status})")))
  }
}

/// The message of a caught panic. The payload is forgotten, not dropped: a
/// payload whose drop panics again must not unwind any further.
fn panic_failure(payload: Box<dyn std::any::Any + Send>) -> Failure {
  let message = if let Some(s) = payload.downcast_ref::<String>() {
    s.clone()
  } else if let Some(s) = payload.downcast_ref::<&str>() {
    (*s).to_string()
  } else {
    "a Rust panic".to_string()
  };
  std::mem::forget(payload);
  Failure {
    code: "EPANIC",
    message: format!("drmsim: panic in the native engine: {message}"),
  }
}

/// Throws `failure` as an `Error` with `code`, unless an exception is already
/// pending.
unsafe fn throw(env: sys::napi_env, failure: Failure) {
  let code = CString::new(failure.code).unwrap_or_default();
  let message = CString::new(failure.message.replace('\0', " ")).unwrap_or_default();
  // SAFETY: env is the env of the current call; both strings live until
  // the call returns, and Node copies them.
  unsafe {
    let mut pending = false;
    sys::napi_is_exception_pending(env, &mut pending);
    if !pending {
      sys::napi_throw_error(env, code.as_ptr(), message.as_ptr());
    }
  }
}

// ---- the calls -----------------------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
  Bind,
  Unbind,
  Batch,
  Insert,
  Remove,
  Get,
  Find,
  FindFirst,
  SmMapOps,
  SmUnmapOps,
  PrefetchOps,
  GemUnmapOps,
  SmMap,
  SmUnmap,
  Step,
  Close,
  Apply,
  Warnings,
}

/// Runs one fast call; it returns an op list's array, or undefined (null).
///
/// # Safety
/// `env` and `info` are those Node passed to the callback.
unsafe fn enter(env: sys::napi_env, info: sys::napi_callback_info, kind: Kind) -> sys::napi_value {
  // SAFETY: as for `run`.
  let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { run(env, info, kind) }));
  let failure = match outcome {
    Ok(Ok(value)) => return value,
    Ok(Err(failure)) => failure,
    Err(payload) => panic_failure(payload),
  };
  // SAFETY: still inside the callback, on its env.
  unsafe { throw(env, failure) };
  ptr::null_mut()
}

/// Where the I/O buffer's bytes are now. Asked on every call, so a buffer
/// that JavaScript detached or shrank since is refused instead of written.
#[inline]
unsafe fn io_bytes(env: sys::napi_env, io: Io) -> Result<(*mut u8, usize), Failure> {
  // SAFETY: as for `io_buffer`.
  unsafe { io_buffer(env, io) }.map(|(_, data, len)| (data, len))
}

/// The I/O buffer, and where its bytes are now, if it is still usable on
/// `env`.
#[inline]
unsafe fn io_buffer(env: sys::napi_env, io: Io) -> Result<(sys::napi_value, *mut u8, usize), Failure> {
  if io.buffer.is_null() || io.env != env {
    return Err(einval("fastInit(io) was not called on this thread"));
  }
  let mut value = ptr::null_mut();
  let mut data: *mut c_void = ptr::null_mut();
  let mut len = 0usize;
  // SAFETY: the reference was made on this env and is deleted only by
  // `fastInit` or the env's cleanup hook, which reset `FAST.io` first.
  unsafe {
    check(
      sys::napi_get_reference_value(env, io.buffer, &mut value),
      "the I/O buffer is gone",
    )?;
    check(
      sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len),
      "the I/O buffer is not an ArrayBuffer",
    )?;
  }
  if data.is_null() || len < IO_MIN {
    return Err(einval(format!(
      "the I/O buffer holds {len} bytes (detached?), not {IO_MIN}"
    )));
  }
  Ok((value, data.cast(), len))
}

/// SAFETY (all helpers below): `io` points to at least `IO_BYTES` bytes of
/// an ArrayBuffer that no other thread can see (a SharedArrayBuffer is not
/// accepted); JavaScript waits for this call, so nothing else touches them.
unsafe fn io_u64(io: *const u8, at: usize) -> u64 {
  unsafe { ptr::read_unaligned(io.add(at).cast::<u64>()) }
}

unsafe fn io_u32(io: *const u8, at: usize) -> u32 {
  unsafe { ptr::read_unaligned(io.add(at).cast::<u32>()) }
}

unsafe fn io_f64(io: *const u8, at: usize) -> f64 {
  unsafe { ptr::read_unaligned(io.add(at).cast::<f64>()) }
}

/// The fields of a request, as the calls that take one read them: addr,
/// range, obj (a walk's id for `step` and `close`), offset, and the same
/// word as a seq (`remove`, `get`).
#[derive(Clone, Copy)]
struct Request {
  addr: u64,
  range: u64,
  obj: u32,
  offset: u64,
  seq: f64,
}

unsafe fn io_request(io: *const u8) -> Request {
  unsafe {
    Request {
      addr: io_u64(io, IO_ADDR),
      range: io_u64(io, IO_RANGE),
      obj: io_u32(io, IO_OBJ),
      offset: io_u64(io, IO_OFFSET),
      seq: io_f64(io, IO_SEQ),
    }
  }
}

/// Writes a number to the first out slot (a walk's id, a warning count).
unsafe fn io_number(io: *mut u8, n: f64) {
  unsafe { ptr::write_unaligned(io.add(IO_OUT).cast::<f64>(), n) };
}

/// Writes the mapping a tree call answers with, or that there is none.
unsafe fn io_va(io: *mut u8, va: Option<Va>) {
  unsafe {
    let Some(va) = va else {
      ptr::write_unaligned(io.add(IO_VA_FOUND).cast::<u32>(), 0);
      return;
    };
    for (i, v) in [va.addr, va.range, va.offset].into_iter().enumerate() {
      ptr::write_unaligned(io.add(IO_VA + 8 * i).cast::<u64>(), v);
    }
    ptr::write_unaligned(io.add(IO_VA_SEQ).cast::<f64>(), va.seq as f64);
    ptr::write_unaligned(io.add(IO_VA_OBJ).cast::<u32>(), va.obj);
    ptr::write_unaligned(io.add(IO_VA_FLAGS).cast::<u32>(), va.flags);
    ptr::write_unaligned(io.add(IO_VA_FOUND).cast::<u32>(), 1);
  }
}

/// A mapping's seq as JavaScript passes it (a number), checked as the
/// binding's `key` checks it.
fn seq_arg(seq: f64) -> Result<u64, Failure> {
  if !(seq >= 0.0 && seq.fract() == 0.0 && seq <= 9007199254740991.0) {
    return Err(einval("seq must be a safe non-negative integer"));
  }
  Ok(seq as u64)
}

unsafe fn io_out(io: *mut u8, counts: &Totals, requests: f64) {
  let out = [counts.map, counts.remap, counts.unmap, requests];
  for (i, v) in out.into_iter().enumerate() {
    unsafe { ptr::write_unaligned(io.add(IO_OUT + 8 * i).cast::<f64>(), v) };
  }
}

#[derive(Default)]
struct Totals {
  map: f64,
  remap: f64,
  unmap: f64,
}

impl Totals {
  fn add(&mut self, c: &OpCounts) {
    self.map += c.map as f64;
    self.remap += c.remap as f64;
    self.unmap += c.unmap as f64;
  }
}

/// Hands `ops` to JavaScript, packed: written to the I/O buffer past
/// `IO_BYTES` (`io` holds `io_len` bytes) when they fit, their length in
/// words at `IO_OUT`, and undefined returned; else in a new BigUint64Array,
/// whose memory is V8's own (a copy), so it needs no finalizer, unlike a
/// typed array over a Rust vector.
unsafe fn ops_out(
  env: sys::napi_env,
  io: *mut u8,
  io_len: usize,
  ops: &[Op],
) -> Result<sys::napi_value, Failure> {
  let mut words = Vec::with_capacity(ops.len() * OP_WORDS);
  ops.iter().for_each(|op| pack_op(&mut words, op));
  let bytes = words.len() * 8;
  if bytes <= io_len - IO_BYTES {
    // SAFETY: io holds io_len bytes (see `io_u64`); the words go to
    // [IO_BYTES, IO_BYTES + bytes), inside them.
    unsafe {
      for (i, w) in words.iter().enumerate() {
        ptr::write_unaligned(io.add(IO_BYTES + 8 * i).cast::<u64>(), *w);
      }
      ptr::write_unaligned(io.add(IO_OUT).cast::<f64>(), words.len() as f64);
    }
    return Ok(ptr::null_mut());
  }
  let mut data: *mut c_void = ptr::null_mut();
  let mut buffer = ptr::null_mut();
  let mut array = ptr::null_mut();
  // SAFETY: env is the current call's; `data` has room for `bytes` bytes
  // that nothing else sees yet.
  unsafe {
    check(
      sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer),
      "cannot allocate the op list",
    )?;
    if bytes != 0 {
      ptr::copy_nonoverlapping(words.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes);
    }
    check(
      sys::napi_create_typedarray(
        env,
        sys::TypedarrayType::biguint64_array,
        words.len(),
        buffer,
        0,
        &mut array,
      ),
      "cannot make the op list's array",
    )?;
  }
  Ok(array)
}

/// The id a call names its VA space by.
unsafe fn id_arg(env: sys::napi_env, value: sys::napi_value) -> Result<f64, Failure> {
  let mut id = f64::NAN;
  // SAFETY: value is an argument of the current call (or null, refused).
  if value.is_null() || unsafe { sys::napi_get_value_double(env, value, &mut id) } != sys::Status::napi_ok {
    return Err(einval("a VA space id must be a number"));
  }
  Ok(id)
}

/// A typed array argument of the wanted type: its data and length in
/// elements.
unsafe fn typed_array(
  env: sys::napi_env,
  value: sys::napi_value,
  want: sys::napi_typedarray_type,
  what: &str,
) -> Result<(*mut c_void, usize), Failure> {
  let mut is_typed = false;
  // SAFETY: value is an argument of the current call.
  unsafe {
    if value.is_null()
      || sys::napi_is_typedarray(env, value, &mut is_typed) != sys::Status::napi_ok
      || !is_typed
    {
      return Err(einval(format!("{what} must be a typed array")));
    }
    let mut kind = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut byte_offset = 0usize;
    check(
      sys::napi_get_typedarray_info(
        env,
        value,
        &mut kind,
        &mut len,
        &mut data,
        &mut buffer,
        &mut byte_offset,
      ),
      what,
    )?;
    if kind != want {
      return Err(einval(format!("{what} has the wrong element type")));
    }
    if data.is_null() && len > 0 {
      return Err(einval(format!("{what} is detached")));
    }
    Ok((data, len))
  }
}

unsafe fn is_nullish(env: sys::napi_env, value: sys::napi_value) -> bool {
  let mut t = 0;
  // SAFETY: value is an argument of the current call, or null (absent).
  value.is_null()
    || unsafe { sys::napi_typeof(env, value, &mut t) } == sys::Status::napi_ok
      && (t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null)
}

/// The body of a fast call.
///
/// Re-entrancy: nothing here calls into JavaScript. The Node-API calls made
/// (argument and buffer queries, `napi_adjust_external_memory`) run no
/// script; a garbage collection they might start can run finalizers, which
/// touch the registry and a `Shared`'s cells but never a VA space's state,
/// and the registry is never borrowed across a Node-API call.
unsafe fn run(
  env: sys::napi_env,
  info: sys::napi_callback_info,
  kind: Kind,
) -> Result<sys::napi_value, Failure> {
  let mut argv: [sys::napi_value; 3] = [ptr::null_mut(); 3];
  let mut argc = match kind {
    Kind::Batch => 3,
    _ => 1,
  };
  // SAFETY: argv has room for argc values; Node fills the missing ones with
  // undefined.
  unsafe {
    check(
      sys::napi_get_cb_info(
        env,
        info,
        &mut argc,
        argv.as_mut_ptr(),
        ptr::null_mut(),
        ptr::null_mut(),
      ),
      "bad call",
    )?;
  }
  // SAFETY: argv[0] comes from this call.
  let id = unsafe { id_arg(env, argv[0]) }?;
  // One visit to the thread's state: the VA space, the buffer, the test hook.
  let (shared, io, panic_armed) = FAST.with(|f| {
    let vm = f.registry.try_borrow().ok().and_then(|r| r.get(id));
    (vm, f.io.get(), f.panic_next.get())
  });
  let shared =
    shared.ok_or_else(|| einval(format!("no VA space has id {id} (finalized, or never created)")))?;
  // SAFETY: env is the current call's.
  let (io, io_len) = unsafe { io_bytes(env, io) }?;
  if panic_armed {
    FAST.with(|f| f.panic_next.set(false));
    panic!("drmsim: deliberate panic to test the boundary (fast path)");
  }
  let mut state = shared.state.try_borrow_mut().map_err(|_| Failure {
    code: "EBUSY",
    message: "the VA space is in use by another call".into(),
  })?;
  // SAFETY: io holds IO_MIN bytes (`io_bytes`); so do all the io helpers below.
  let r = unsafe { io_request(io) };
  let outcome = match kind {
    Kind::Bind | Kind::Unbind => {
      let done = match kind {
        Kind::Bind => state.vm.bind(r.addr, r.range, r.obj, r.offset),
        _ => state.vm.unbind(r.addr, r.range),
      };
      done
        .map(|c| {
          let mut t = Totals::default();
          t.add(&c);
          unsafe { io_out(io, &t, 1.0) };
        })
        .map_err(Failure::from)
    }
    Kind::Insert | Kind::Remove | Kind::Get | Kind::Find | Kind::FindFirst => {
      let vm = &mut state.vm;
      let answer = match kind {
        Kind::Insert => vm.insert(r.addr, r.range, r.obj, r.offset).map(Some),
        Kind::Remove => vm.remove((r.addr, seq_arg(r.seq)?)).map(Some),
        Kind::Get => {
          let seq = seq_arg(r.seq)?;
          vm.alive().map(|()| vm.get((r.addr, seq)))
        }
        // Queries answer only while the VA space is alive, as the binding's.
        Kind::Find => vm.alive().map(|()| vm.find(r.addr, r.range)),
        _ => vm.alive().map(|()| vm.find_first(r.addr, r.range)),
      };
      answer.map(|va| unsafe { io_va(io, va) }).map_err(Failure::from)
    }
    Kind::SmMapOps | Kind::SmUnmapOps | Kind::PrefetchOps | Kind::GemUnmapOps => {
      let vm = &mut state.vm;
      let ops = match kind {
        Kind::SmMapOps => vm.sm_map_ops(r.addr, r.range, r.obj, r.offset),
        Kind::SmUnmapOps => vm.sm_unmap_ops(r.addr, r.range),
        Kind::PrefetchOps => vm.prefetch_ops(r.addr, r.range),
        // Object 0 names no list: nothing to look at, even in a destroyed VA space.
        _ if r.obj == NO_OBJ => Ok(Vec::new()),
        _ => vm.gem_unmap_ops(r.obj),
      }
      .map_err(Failure::from)?;
      // Building a list changes nothing to account for (a GEM list built on
      // first read is accounted by the next change).
      drop(state);
      // SAFETY: env is the current call's; io holds io_len bytes.
      return unsafe { ops_out(env, io, io_len, &ops) };
    }
    Kind::SmMap | Kind::SmUnmap => {
      let cursor = match kind {
        Kind::SmMap => state.vm.sm_map(r.addr, r.range, r.obj, r.offset),
        _ => state.vm.sm_unmap(r.addr, r.range),
      }
      .map_err(Failure::from)?;
      let id = state.open(cursor);
      unsafe { io_number(io, f64::from(id)) };
      return Ok(ptr::null_mut());
    }
    Kind::Step => {
      state.vm.alive().map_err(Failure::from)?;
      let op = state.step(r.obj)?;
      drop(state);
      // SAFETY: env is the current call's; io holds io_len bytes.
      return unsafe { ops_out(env, io, io_len, op.as_slice()) };
    }
    Kind::Close => {
      state.close(r.obj);
      return Ok(ptr::null_mut());
    }
    Kind::Warnings => {
      unsafe { io_number(io, state.vm.warning_count() as f64) };
      return Ok(ptr::null_mut());
    }
    Kind::Apply => {
      let mut words = [0u64; OP_WORDS];
      for (i, w) in words.iter_mut().enumerate() {
        *w = unsafe { io_u64(io, IO_BYTES + 8 * i) };
      }
      let op = unpack_op(&words)?;
      state.vm.apply(&op).map_err(Failure::from)
    }
    Kind::Batch => {
      // SAFETY: argv comes from this call.
      let (words, len) =
        unsafe { typed_array(env, argv[1], sys::TypedarrayType::biguint64_array, "the batch") }?;
      let per = if unsafe { is_nullish(env, argv[2]) } {
        None
      } else {
        Some(unsafe { typed_array(env, argv[2], sys::TypedarrayType::uint32_array, "perRequest") }?)
      };
      // SAFETY: words holds len u64 and per (if any) its length in u32;
      // they stay put during the call (a typed array's data is moved off
      // the V8 heap when Node hands it out). They may live in a
      // SharedArrayBuffer, so `batch` only touches them atomically.
      unsafe {
        batch(
          &mut state.vm,
          io,
          words.cast::<u64>(),
          len,
          per.map(|(p, n)| (p.cast::<u32>(), n)),
        )
      }
    }
  };
  // Queries change nothing to account for.
  if !matches!(kind, Kind::Get | Kind::Find | Kind::FindFirst) {
    let heap = state.vm.heap_bytes();
    drop(state);
    shared.external.account(env, heap);
  }
  outcome.map(|()| ptr::null_mut())
}

/// Applies a packed batch in order; stops at the first request that fails.
/// The totals of the requests applied, and how many there were, go to `io`
/// either way.
///
/// # Safety
/// See `run`: `words` holds `len` u64 and `per` its length in u32, both
/// aligned (typed arrays are). Another thread may see them (a typed array
/// over a SharedArrayBuffer), so each element is read or written on its own
/// with a relaxed atomic access: a plain load or store on the hardware, and
/// no data race for Rust.
unsafe fn batch(
  vm: &mut drmsim_core::gpuvm::GpuVm,
  io: *mut u8,
  words: *const u64,
  len: usize,
  per: Option<(*mut u32, usize)>,
) -> Result<(), Failure> {
  if !len.is_multiple_of(BATCH_WORDS) {
    return Err(einval(format!("a batch has {BATCH_WORDS} words per request")));
  }
  let n = len / BATCH_WORDS;
  if !words.cast::<AtomicU64>().is_aligned() || per.is_some_and(|(p, _)| !p.cast::<AtomicU32>().is_aligned())
  {
    return Err(einval("a batch array is not aligned"));
  }
  if let Some((_, per_len)) = per {
    if per_len < 3 * n {
      return Err(einval(format!(
        "perRequest holds {per_len} counts; {n} requests need {}",
        3 * n
      )));
    }
  }
  // SAFETY: i < len; aligned, as checked.
  let word = |i: usize| unsafe { AtomicU64::from_ptr(words.add(i).cast_mut()) }.load(Ordering::Relaxed);
  // Every request is checked before any is applied.
  for i in 0..n {
    let kind = word(i * BATCH_WORDS) & 0xffff_ffff;
    if kind != BATCH_MAP && kind != BATCH_UNMAP {
      return Err(einval(format!(
        "request {i} of the batch has an unknown kind {kind}"
      )));
    }
  }
  let mut totals = Totals::default();
  for i in 0..n {
    let w = i * BATCH_WORDS;
    let (head, addr, range) = (word(w), word(w + 1), word(w + 2));
    let done = if head & 0xffff_ffff == BATCH_MAP {
      vm.bind(addr, range, (head >> 32) as u32, word(w + 3))
    } else {
      vm.unbind(addr, range)
    };
    match done {
      Ok(c) => {
        totals.add(&c);
        if let Some((p, _)) = per {
          for (k, v) in [c.map, c.remap, c.unmap].into_iter().enumerate() {
            // SAFETY: 3 * i + k < 3 * n <= per_len; aligned, as checked.
            unsafe { AtomicU32::from_ptr(p.add(3 * i + k)) }.store(v as u32, Ordering::Relaxed);
          }
        }
      }
      Err(e) => {
        unsafe { io_out(io, &totals, i as f64) };
        return Err(e.into());
      }
    }
  }
  unsafe { io_out(io, &totals, n as f64) };
  Ok(())
}

/// The `extern "C"` callback of each kind of call (each just enters
/// `enter`), and `ENTRIES`, the JavaScript name of each.
macro_rules! entry_points {
  ($($js:literal: $name:ident => $kind:ident),* $(,)?) => {
    $(
      unsafe extern "C" fn $name(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
        // SAFETY: called by Node with its env and callback info.
        unsafe { enter(env, info, Kind::$kind) }
      }
    )*
    /// Each entry point's name (NUL-terminated) and callback.
    const ENTRIES: &[(&[u8], sys::napi_callback)] = &[$((concat!($js, "\0").as_bytes(), Some($name))),*];
  };
}

entry_points!(
  "bind": fast_bind => Bind,
  "unbind": fast_unbind => Unbind,
  "bindBatch": fast_batch => Batch,
  "insert": fast_insert => Insert,
  "remove": fast_remove => Remove,
  "get": fast_get => Get,
  "find": fast_find => Find,
  "findFirst": fast_find_first => FindFirst,
  "smMapOps": fast_sm_map_ops => SmMapOps,
  "smUnmapOps": fast_sm_unmap_ops => SmUnmapOps,
  "prefetchOps": fast_prefetch_ops => PrefetchOps,
  "gemUnmapOps": fast_gem_unmap_ops => GemUnmapOps,
  "smMap": fast_sm_map => SmMap,
  "smUnmap": fast_sm_unmap => SmUnmap,
  "step": fast_step => Step,
  "close": fast_close => Close,
  "apply": fast_apply => Apply,
  "warnings": fast_warnings => Warnings,
);

// ---- registration --------------------------------------------------------

/// Deletes this thread's reference to the I/O buffer when the env that
/// holds it goes away (`env` is the hook's argument).
unsafe extern "C" fn forget_io(env: *mut c_void) {
  let _ = FAST.try_with(|f| {
    if let Ok(mut hooked) = f.hooked.try_borrow_mut() {
      hooked.retain(|&e| e != env as usize);
    }
    let io = f.io.get();
    if io.env.cast::<c_void>() == env && !io.buffer.is_null() {
      f.io.set(Io {
        env: ptr::null_mut(),
        buffer: ptr::null_mut(),
      });
      // SAFETY: the reference belongs to the env being torn down, which
      // still accepts calls in its cleanup hooks.
      unsafe { sys::napi_delete_reference(io.env, io.buffer) };
    }
  });
}

fn status(s: sys::napi_status, what: &str) -> napi::Result<()> {
  if s == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(napi::Error::from_reason(format!(
      "fastInit: {what} failed (Node-API status {s})"
    )))
  }
}

/// Takes `io` as this thread's I/O buffer, unless the thread has a usable
/// one already, and returns the fast functions with the buffer in use as
/// their `io`. The buffer in use stays: every copy of the package loaded in
/// the thread shares this addon, and one copy's buffer replacing another's
/// would leave the other's views on a buffer no call reads.
pub(crate) fn init<'env>(env: &'env Env, io: Unknown<'env>) -> napi::Result<Unknown<'env>> {
  let env = env.raw();
  let value = io.raw();
  let mut data: *mut c_void = ptr::null_mut();
  let mut len = 0usize;
  let mut is_buffer = false;
  // SAFETY: env and value are those of the current napi-rs call.
  unsafe {
    status(
      sys::napi_is_arraybuffer(env, value, &mut is_buffer),
      "napi_is_arraybuffer",
    )?;
    if !is_buffer {
      return Err(napi::Error::new(
        napi::Status::InvalidArg,
        "fastInit: io must be an ArrayBuffer".to_string(),
      ));
    }
    status(
      sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len),
      "napi_get_arraybuffer_info",
    )?;
  }
  if len < IO_MIN {
    return Err(napi::Error::new(
      napi::Status::InvalidArg,
      format!("fastInit: io must hold at least {IO_MIN} bytes, not {len}"),
    ));
  }
  let mut fns = ptr::null_mut();
  // SAFETY: as above; the names are NUL-terminated and the callbacks have
  // the signature Node-API expects.
  unsafe {
    let in_use = match io_buffer(env, FAST.with(|f| f.io.get())) {
      Ok((kept, _, _)) => kept,
      Err(_) => {
        install(env, value)?;
        value
      }
    };
    status(sys::napi_create_object(env, &mut fns), "napi_create_object")?;
    status(
      sys::napi_set_named_property(env, fns, c"io".as_ptr(), in_use),
      "napi_set_named_property",
    )?;
    for &(name, cb) in ENTRIES {
      let mut f = ptr::null_mut();
      let name = name.as_ptr().cast::<c_char>();
      status(
        sys::napi_create_function(env, name, -1, cb, ptr::null_mut(), &mut f),
        "napi_create_function",
      )?;
      status(
        sys::napi_set_named_property(env, fns, name, f),
        "napi_set_named_property",
      )?;
    }
    Ok(Unknown::from_raw_unchecked(env, fns))
  }
}

/// Makes `value` (a checked ArrayBuffer) this thread's I/O buffer, in place
/// of the one it had.
///
/// # Safety
/// `env` and `value` are those of the current call.
unsafe fn install(env: sys::napi_env, value: sys::napi_value) -> napi::Result<()> {
  let mut reference = ptr::null_mut();
  // SAFETY: as the caller's.
  unsafe {
    status(
      sys::napi_create_reference(env, value, 1, &mut reference),
      "napi_create_reference",
    )?;
    let hooked = FAST.with(|f| f.hooked.borrow().contains(&(env as usize)));
    if !hooked {
      status(
        sys::napi_add_env_cleanup_hook(env, Some(forget_io), env.cast()),
        "napi_add_env_cleanup_hook",
      )?;
      FAST.with(|f| f.hooked.borrow_mut().push(env as usize));
    }
    let old = FAST.with(|f| {
      f.io.replace(Io {
        env,
        buffer: reference,
      })
    });
    if !old.buffer.is_null() {
      sys::napi_delete_reference(old.env, old.buffer);
    }
  }
  Ok(())
}
