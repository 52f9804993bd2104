//! The VA space's napi-rs class, `NativeVm`: its construction, the id by
//! which the fast entry points (calls.rs) name it, and the cold calls, the
//! drm_gpuvm hub's among them (hub.rs). Every hot call (bind, unbind,
//! batches, insert, remove, get, find, findFirst, op lists, walks, apply) is
//! a fast entry point, not a method here.

use crate::convert::{busy, einval, key, to_js, u64_arg, va_record, Result, VaRecord, WarningRecord};
use crate::external::External;
use crate::registry;
use drmsim_core::gpuvm::{GpuVm, Op, SmCursor, VmOptions, NO_OBJ};
use napi::bindgen_prelude::{BigInt, BigUint64Array, ObjectFinalize, Uint32Array};
use napi::Env;
use napi_derive::napi;
use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The state of one VA space, shared by its `NativeVm` handle and the
/// registry of the fast entry points, which name it by id.
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

/// The open split/merge walks of a VA space, named by number (the fast
/// entry points step them for JavaScript).
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

  /// The heap to report after a call that may have changed the VA space;
  /// one torn down by it (its refcount reached 0) loses its open walks.
  #[inline]
  pub(crate) fn heap_after_change(&mut self) -> usize {
    if self.vm.is_destroyed() {
      self.cursors.clear();
    }
    self.vm.heap_bytes()
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
    registry::unregister(self.id);
    self.shared.external.release(&env)
  }
}

impl NativeVm {
  /// The VA space's state, for one call. No method calls back into
  /// JavaScript, so no other call can hold it; if one ever did, the error is
  /// EBUSY.
  fn state(&self) -> Result<RefMut<'_, VmState>> {
    self.shared.state.try_borrow_mut().map_err(|_| busy())
  }

  /// Runs a query on a VA space that must still be alive.
  fn alive<T>(&self, f: impl FnOnce(&mut VmState) -> Result<T>) -> Result<T> {
    let mut state = self.state()?;
    state.vm.alive().map_err(to_js)?;
    f(&mut state)
  }

  /// Runs a core call that may change the VA space, then reports its heap
  /// to V8 (a teardown at refcount 0 empties it: open walks go with it).
  pub(crate) fn changing<T>(
    &self,
    env: &Env,
    f: impl FnOnce(&mut GpuVm) -> drmsim_core::Result<T>,
  ) -> Result<T> {
    let mut state = self.state()?;
    let out = f(&mut state.vm).map_err(to_js);
    let heap = state.heap_after_change();
    drop(state);
    self.shared.external.account(env.raw(), heap);
    out
  }

  /// Runs a core query.
  pub(crate) fn reading<T>(&self, f: impl FnOnce(&mut GpuVm) -> drmsim_core::Result<T>) -> Result<T> {
    f(&mut self.state()?.vm).map_err(to_js)
  }
}

/// An era, flags word or resv id as JavaScript passes it: a u32, else EINVAL.
fn u32_option(v: Option<f64>, what: &str) -> Result<u32> {
  match v {
    None => Ok(0),
    Some(x) if x >= 0.0 && x <= f64::from(u32::MAX) && x.fract() == 0.0 => Ok(x as u32),
    Some(x) => Err(einval(format!("{what} must be a u32, got {x}"))),
  }
}

#[napi]
impl NativeVm {
  /// `era`: index into ERAS (default 0, the seed's); `flags`: VM_FLAGS
  /// bits (era 1 and later); `resv`: the VM-wide reservation's id (0: none).
  #[napi(constructor, catch_unwind)]
  #[allow(clippy::too_many_arguments)]
  pub fn new(
    name: String,
    start: BigInt,
    range: BigInt,
    reserve_offset: Option<BigInt>,
    reserve_range: Option<BigInt>,
    era: Option<f64>,
    flags: Option<f64>,
    resv: Option<f64>,
  ) -> Result<Self> {
    let reserve = match (reserve_offset, reserve_range) {
      (Some(o), Some(r)) => Some((u64_arg(&o, "reserve.offset")?, u64_arg(&r, "reserve.range")?)),
      _ => None,
    };
    let opts = VmOptions {
      era: u32_option(era, "era")?,
      flags: u32_option(flags, "flags")?,
      resv: u32_option(resv, "resv")?,
    };
    let vm = GpuVm::with_options(
      &name,
      u64_arg(&start, "start")?,
      u64_arg(&range, "range")?,
      reserve,
      opts,
    )
    .map_err(to_js)?;
    let shared = Rc::new(Shared {
      state: RefCell::new(VmState {
        vm,
        cursors: BTreeMap::new(),
        next_cursor: 1,
      }),
      external: External::default(),
    });
    let id = registry::register(shared.clone());
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

  /// Whether the VA space was destroyed (by `destroy`, or torn down when its
  /// refcount reached 0).
  #[napi(getter)]
  pub fn destroyed(&self) -> Result<bool> {
    Ok(self.state()?.vm.is_destroyed())
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
  pub fn kernel_node(&self) -> Result<Option<VaRecord>> {
    self.alive(|s| Ok(s.vm.kernel_node().map(va_record)))
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

  // Packed listing (fast-replay).
  /// `list`, packed: `LIST_WORDS` (5) words a mapping, in tree order: addr,
  /// range, offset, obj | flags << 32, and seq as the bits of an f64. One
  /// array instead of an object (and three BigInts) made here per mapping.
  #[napi(catch_unwind)]
  pub fn list_packed(&self) -> Result<BigUint64Array> {
    self.alive(|s| {
      let mut words = Vec::with_capacity(5 * s.vm.len());
      for va in s.vm.iter() {
        let ids = u64::from(va.obj) | u64::from(va.flags) << 32;
        words.extend_from_slice(&[va.addr, va.range, va.offset, ids, (va.seq as f64).to_bits()]);
      }
      Ok(BigUint64Array::new(words))
    })
  }

  /// The ids of the GEM objects the mappings use, each once, ascending: what
  /// the JS object table keeps when it prunes, without a record per mapping.
  #[napi(catch_unwind)]
  pub fn object_ids(&self) -> Result<Uint32Array> {
    self.alive(|s| {
      let mut ids: Vec<u32> = s.vm.iter().map(|va| va.obj).filter(|&id| id != NO_OBJ).collect();
      ids.sort_unstable();
      ids.dedup();
      Ok(Uint32Array::new(ids))
    })
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

  /// Destroys the VA space (its walks with it) and reports its heap, now
  /// empty, to V8.
  #[napi(catch_unwind)]
  pub fn destroy(&self, env: Env) -> Result<()> {
    let mut state = self.state()?;
    state.cursors.clear();
    let out = state.vm.destroy().map_err(to_js);
    let heap = state.vm.heap_bytes();
    drop(state);
    self.shared.external.account(env.raw(), heap);
    out
  }
}
