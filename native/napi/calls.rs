//! The raw entry points of the hot calls, written on Node-API itself
//! (`napi::sys`) instead of napi-rs's generated glue, whose class dispatch
//! alone costs about 600 ns a call (and whose typed arrays over Rust vectors
//! several microseconds): `bind`, `unbind` and `bindBatch`, the VA-tree calls
//! `insert`, `remove`, `get`, `find` and `findFirst`, the op lists
//! (`smMapOps`, `smUnmapOps`, `prefetchOps`, `gemUnmapOps`, `madviseOps`), step-by-step
//! walks (`smMap`, `smUnmap`, `step`, `close`), `apply` and `warnings` (how
//! many are pending). They are the one calling convention of the hot paths;
//! the VA space's napi-rs class (vm.rs) holds only the cold calls.
//! `blockBind`, `blockUnbind`, `blockInsert`, `blockRemove`, `blockGet`,
//! `blockFind` and `blockFindFirst` are `bind`, `unbind`, `insert`, `remove`,
//! `get`, `find` and `findFirst` taking their id and request from the VA
//! block (vm_block.rs).
//!
//! - Each takes a VA space id (registry.rs) and, for a batch, its arrays;
//!   the rest of its arguments it reads from the thread's I/O buffer (io.rs),
//!   where it writes its results: step counts, the mapping a tree call
//!   inserted, removed or found (whole, so that JavaScript builds its record
//!   without another call), a walk's id, or packed ops. An op list too long
//!   for the buffer is returned as a BigUint64Array, else undefined.
//! - On failure it throws the same error a napi-rs method throws (an `Error`
//!   whose `code` is the errno name), so one wrapper turns both into a
//!   DrmError. A panic is caught and thrown as an `Error` too; nothing unwinds
//!   into Node.
//! - Each kind of call is one small handler in `ENTRIES`; `enter` is the
//!   prelude and epilogue they share.
//!
//! Re-entrancy: nothing here calls into JavaScript. The Node-API calls made
//! (argument and buffer queries, `napi_adjust_external_memory`, making an op
//! list's array) run no script; a garbage collection they might start can run
//! finalizers, which touch the registry and a `Shared`'s `External` but never
//! a VA space's state, and the registry is never borrowed across a Node-API
//! call.

use crate::batch;
use crate::io::{self, Io, Request, Totals};
use crate::raw::{self, einval, panic_failure, throw, Failure};
use crate::thread::{self, THREAD};
use crate::vm::VmState;
use drmsim_core::gpuvm::{Op, OpCounts, NO_OBJ};
use drmsim_core::wire::unpack_op;
use napi::sys;
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// Makes the next call of a fast entry point panic, to test that the panic
/// becomes a JavaScript error.
#[napi_derive::napi]
pub fn force_fast_panic_for_test() {
  raw::quiet_deliberate_panics();
  THREAD.with(|t| t.panic_next.set(true));
}

/// What a handler hands back: done (its results, if any, are in the I/O
/// buffer), or ops to write there.
pub(crate) enum Reply {
  Done,
  Ops(Vec<Op>),
  Step(Option<Op>),
}

/// One call in progress, as its handler sees it.
pub(crate) struct Cx<'a> {
  pub(crate) env: sys::napi_env,
  pub(crate) state: &'a mut VmState,
  pub(crate) io: Io,
  /// The request in the I/O buffer, read once.
  pub(crate) req: Request,
  /// The arguments after the id (`bindBatch`'s arrays); null for the others.
  pub(crate) extra: [sys::napi_value; 2],
}

type Handler = fn(&mut Cx<'_>) -> Result<Reply, Failure>;

/// A kind of call: its handler, whether it may change the VA space (then its
/// heap is reported to V8 afterwards, whatever the outcome), whether it
/// takes arguments after the id, and whether it takes no arguments at all,
/// its id and request being in the VA block (vm_block.rs).
#[derive(Clone, Copy)]
struct Call {
  run: Handler,
  changes: bool,
  extra: bool,
  block: bool,
}

impl Call {
  const fn changing(run: Handler) -> Call {
    Call {
      run,
      changes: true,
      extra: false,
      block: false,
    }
  }

  /// `changing`, on the VA block.
  const fn on_block(run: Handler) -> Call {
    Call {
      run,
      changes: true,
      extra: false,
      block: true,
    }
  }

  /// Calls that change nothing to account for: queries, op lists (a GEM list
  /// built on first read is accounted by the next change), walks.
  const fn reading(run: Handler) -> Call {
    Call {
      run,
      changes: false,
      extra: false,
      block: false,
    }
  }

  /// `reading`, on the VA block.
  const fn reading_on_block(run: Handler) -> Call {
    Call {
      run,
      changes: false,
      extra: false,
      block: true,
    }
  }
}

// ---- the handlers -------------------------------------------------------------

#[inline(always)]
fn counts(cx: &mut Cx<'_>, c: OpCounts) -> Result<Reply, Failure> {
  let mut t = Totals::default();
  t.add(&c);
  cx.io.counts(&t, 1.0);
  Ok(Reply::Done)
}

#[inline(always)]
fn bind(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let r = cx.req;
  let c = cx.state.vm.bind(r.addr, r.range, r.obj, r.offset)?;
  counts(cx, c)
}

#[inline(always)]
fn unbind(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let c = cx.state.vm.unbind(cx.req.addr, cx.req.range)?;
  counts(cx, c)
}

/// A mapping's seq as JavaScript passes it (a number), checked as the napi-rs
/// calls check it.
#[inline(always)]
fn seq(r: &Request) -> Result<u64, Failure> {
  crate::convert::seq_arg(r.seq).ok_or_else(|| einval(crate::convert::BAD_SEQ))
}

#[inline(always)]
fn insert(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let r = cx.req;
  let va = cx.state.vm.insert(r.addr, r.range, r.obj, r.offset)?;
  cx.io.va(Some(va));
  Ok(Reply::Done)
}

#[inline(always)]
fn remove(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let key = (cx.req.addr, seq(&cx.req)?);
  let va = cx.state.vm.remove(key)?;
  cx.io.va(Some(va));
  Ok(Reply::Done)
}

// Queries answer only while the VA space is alive, as the napi-rs calls.

#[inline(always)]
fn get(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let key = (cx.req.addr, seq(&cx.req)?);
  cx.state.vm.alive()?;
  cx.io.va(cx.state.vm.get(key));
  Ok(Reply::Done)
}

#[inline(always)]
fn find(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  cx.state.vm.alive()?;
  cx.io.va(cx.state.vm.find(cx.req.addr, cx.req.range));
  Ok(Reply::Done)
}

#[inline(always)]
fn find_first(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  cx.state.vm.alive()?;
  cx.io.va(cx.state.vm.find_first(cx.req.addr, cx.req.range));
  Ok(Reply::Done)
}

fn sm_map_ops(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let r = cx.req;
  Ok(Reply::Ops(
    cx.state.vm.sm_map_ops(r.addr, r.range, r.obj, r.offset)?,
  ))
}

fn sm_unmap_ops(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  Ok(Reply::Ops(cx.state.vm.sm_unmap_ops(cx.req.addr, cx.req.range)?))
}

fn prefetch_ops(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  Ok(Reply::Ops(cx.state.vm.prefetch_ops(cx.req.addr, cx.req.range)?))
}

fn gem_unmap_ops(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  // Object 0 names no list: nothing to look at, even in a destroyed VA space.
  if cx.req.obj == NO_OBJ {
    return Ok(Reply::Ops(Vec::new()));
  }
  Ok(Reply::Ops(cx.state.vm.gem_unmap_ops(cx.req.obj)?))
}

fn madvise_ops(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let r = cx.req;
  Ok(Reply::Ops(
    cx.state.vm.madvise_ops(r.addr, r.range, r.obj, r.offset)?,
  ))
}

fn sm_map(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let r = cx.req;
  let cursor = cx.state.vm.sm_map(r.addr, r.range, r.obj, r.offset)?;
  let id = cx.state.open(cursor);
  cx.io.number(f64::from(id));
  Ok(Reply::Done)
}

fn sm_unmap(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let cursor = cx.state.vm.sm_unmap(cx.req.addr, cx.req.range)?;
  let id = cx.state.open(cursor);
  cx.io.number(f64::from(id));
  Ok(Reply::Done)
}

/// The walk's next step (its id in the obj slot); none written when it is
/// over.
fn step(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  cx.state.vm.alive()?;
  Ok(Reply::Step(cx.state.step(cx.req.obj)?))
}

fn close(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  cx.state.close(cx.req.obj);
  Ok(Reply::Done)
}

/// Applies the packed op in the op area.
fn apply(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  let op = unpack_op(&cx.io.op())?;
  cx.state.vm.apply(&op)?;
  Ok(Reply::Done)
}

fn warnings(cx: &mut Cx<'_>) -> Result<Reply, Failure> {
  cx.io.number(cx.state.vm.warning_count() as f64);
  Ok(Reply::Done)
}

// ---- the shared prelude and epilogue --------------------------------------------

/// Runs one call; it returns an op list's array, or undefined (null).
///
/// # Safety
/// `env` and `info` are those Node passed to the callback.
#[inline(always)]
unsafe fn enter(env: sys::napi_env, info: sys::napi_callback_info, call: Call) -> sys::napi_value {
  // SAFETY: env and info are the callback's (the caller's contract).
  let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { run(env, info, call) }));
  let failure = match outcome {
    Ok(Ok(value)) => return value,
    Ok(Err(failure)) => failure,
    Err(payload) => panic_failure(payload),
  };
  // SAFETY: still inside the callback, on its env.
  unsafe { throw(env, failure) };
  ptr::null_mut()
}

/// # Safety
/// As for `enter`.
#[inline(always)]
unsafe fn run(
  env: sys::napi_env,
  info: sys::napi_callback_info,
  call: Call,
) -> Result<sys::napi_value, Failure> {
  if call.block {
    // The id and the request are in the VA block: no Node-API query at all.
    let (id, io) = crate::vm_block::current(env)?;
    let (shared, _, panic_armed) = thread::visit(id);
    // SAFETY: env is the current call's.
    return unsafe { on_vm(env, call, id, shared, io, [ptr::null_mut(); 2], panic_armed) };
  }
  let (id, extra) = if call.extra {
    // SAFETY: env and info are the callback's (the caller's contract).
    let [id, words, per] = unsafe { raw::args::<3>(env, info) }?;
    (id, [words, per])
  } else {
    // SAFETY: as above.
    let [id] = unsafe { raw::args::<1>(env, info) }?;
    (id, [ptr::null_mut(); 2])
  };
  // SAFETY: `id` is an argument of this call on env.
  let id = unsafe { raw::id_arg(env, id) }?;
  // One visit to the thread's state: the VA space, the buffer, the test hook.
  let (shared, buffer, panic_armed) = thread::visit(id);
  // Checked before the buffer, as always: an unknown id is the error to report.
  if shared.is_none() {
    return Err(no_vm(id));
  }
  // SAFETY: env is the current call's; the view is dropped when it returns.
  let io = unsafe { io::current(env, buffer) }?;
  // SAFETY: as above.
  unsafe { on_vm(env, call, id, shared, io, extra, panic_armed) }
}

fn no_vm(id: f64) -> Failure {
  einval(format!("no VA space has id {id} (finalized, or never created)"))
}

/// The rest of a call once its VA space, I/O bytes and arguments are known.
///
/// # Safety
/// `env` is the current call's, and `io` is dropped before the call returns.
#[inline(always)]
unsafe fn on_vm(
  env: sys::napi_env,
  call: Call,
  id: f64,
  shared: Option<std::rc::Rc<crate::vm::Shared>>,
  io: Io,
  extra: [sys::napi_value; 2],
  panic_armed: bool,
) -> Result<sys::napi_value, Failure> {
  let shared = shared.ok_or_else(|| no_vm(id))?;
  if panic_armed {
    THREAD.with(|t| t.panic_next.set(false));
    panic!("drmsim: deliberate panic to test the boundary (fast path)");
  }
  let mut state = shared.state.try_borrow_mut().map_err(|_| Failure {
    code: "EBUSY",
    message: "the VA space is in use by another call".into(),
  })?;
  let reply = (call.run)(&mut Cx {
    env,
    state: &mut state,
    io,
    req: io.request(),
    extra,
  });
  // A VA space torn down at refcount 0 (hub.md) takes its walks with it.
  let heap = call.changes.then(|| state.heap_after_change());
  drop(state);
  if let Some(heap) = heap {
    shared.external.account(env, heap);
  }
  match reply? {
    Reply::Done => Ok(ptr::null_mut()),
    // SAFETY: env is the current call's.
    Reply::Ops(ops) => unsafe { io.ops(env, &ops) },
    // SAFETY: as above.
    Reply::Step(op) => unsafe { io.ops(env, op.as_slice()) },
  }
}

/// The `extern "C"` callback of each kind of call (each just enters `enter`
/// with its `Call`), and `ENTRIES`, the JavaScript name of each.
macro_rules! entry_points {
  ($($js:literal => $name:ident: $call:expr),* $(,)?) => {
    $(
      unsafe extern "C" fn $name(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
        const CALL: Call = $call;
        // SAFETY: Node calls this callback with its env and callback info.
        unsafe { enter(env, info, CALL) }
      }
    )*
    /// Each entry point's name and callback.
    pub(crate) const ENTRIES: &[(&CStr, sys::napi_callback)] = &[$(($js, Some($name))),*];
  };
}

entry_points!(
  c"bind" => fast_bind: Call::changing(bind),
  c"unbind" => fast_unbind: Call::changing(unbind),
  c"bindBatch" => fast_batch: Call { run: batch::bind_batch, changes: true, extra: true, block: false },
  c"insert" => fast_insert: Call::changing(insert),
  c"remove" => fast_remove: Call::changing(remove),
  c"get" => fast_get: Call::reading(get),
  c"find" => fast_find: Call::reading(find),
  c"findFirst" => fast_find_first: Call::reading(find_first),
  c"smMapOps" => fast_sm_map_ops: Call::reading(sm_map_ops),
  c"smUnmapOps" => fast_sm_unmap_ops: Call::reading(sm_unmap_ops),
  c"prefetchOps" => fast_prefetch_ops: Call::reading(prefetch_ops),
  c"gemUnmapOps" => fast_gem_unmap_ops: Call::reading(gem_unmap_ops),
  c"madviseOps" => fast_madvise_ops: Call::reading(madvise_ops),
  c"smMap" => fast_sm_map: Call::reading(sm_map),
  c"smUnmap" => fast_sm_unmap: Call::reading(sm_unmap),
  c"step" => fast_step: Call::reading(step),
  c"close" => fast_close: Call::reading(close),
  c"apply" => fast_apply: Call::changing(apply),
  c"warnings" => fast_warnings: Call::reading(warnings),
  // Atomic bind arrays.
  c"bindArray" => fast_array: Call { run: crate::array::bind_array, changes: true, extra: true, block: false },
  // The VA block (vm_block.rs): no arguments, the id and request in the block.
  c"blockBind" => fast_block_bind: Call::on_block(bind),
  c"blockUnbind" => fast_block_unbind: Call::on_block(unbind),
  c"blockInsert" => fast_block_insert: Call::on_block(insert),
  // The VA tree's other calls on the block (jsreq).
  c"blockRemove" => fast_block_remove: Call::on_block(remove),
  c"blockGet" => fast_block_get: Call::reading_on_block(get),
  c"blockFind" => fast_block_find: Call::reading_on_block(find),
  c"blockFindFirst" => fast_block_find_first: Call::reading_on_block(find_first),
);
