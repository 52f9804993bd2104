//! VA spaces tied to a device (`NativeDevice.attachVm`): they hear of every
//! placement move inside Rust. After each device call that can move objects
//! (validate, moveTo, pin) the device hands its moves, in order, to each live
//! attached VA space, in attach order (`GpuVm::object_moved`): one crossing
//! per device call, however many mappings the moves touch.

use crate::convert::{busy, einval, to_js, Result};
use crate::device::NativeDevice;
use crate::external::Reported;
use crate::registry;
use crate::vm::Shared;
use drmsim_core::device::MoveEvent;
use napi::bindgen_prelude::Env;
use napi_derive::napi;
use std::rc::{Rc, Weak};

/// A VA space tied to the device, and the moves it has yet to hear of.
pub(crate) struct Attached {
  vm: Weak<Shared>,
  /// Moves that found its state borrowed (never expected: nothing holds it
  /// across a device call), handed to it first at the next delivery.
  backlog: Vec<MoveEvent>,
}

impl NativeDevice {
  /// Runs a call that can move objects, then hands the moves to the attached
  /// VA spaces. A VA space's state is a RefCell that no call holds across a
  /// device call (nothing here or there calls back into JavaScript); should
  /// one be borrowed anyway, the call is EBUSY before anything changes, so
  /// that no move goes unheard.
  pub(crate) fn moving<T>(&mut self, env: &Env, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
    if self.attached.is_empty() {
      return self.changing(env, f);
    }
    self.prune();
    for a in &self.attached {
      if let Some(vm) = a.vm.upgrade() {
        if vm.state.try_borrow_mut().is_err() {
          return Err(busy());
        }
      }
    }
    // Moves are handed over even when the call fails part way (an eviction
    // done before an ENOSPC has still happened).
    let out = self.changing(env, f);
    self.deliver(env);
    out
  }

  /// Drops the VA spaces that were collected or destroyed.
  fn prune(&mut self) {
    self.attached.retain(|a| {
      a.vm
        .upgrade()
        .is_some_and(|vm| vm.state.try_borrow().map_or(true, |s| !s.vm.is_destroyed()))
    });
    if self.attached.is_empty() {
      self.dev.notify_moves(false);
    }
  }

  /// Each move, in order, to each live attached VA space, in attach order.
  fn deliver(&mut self, env: &Env) {
    let moves = self.dev.take_notified_moves();
    for a in &mut self.attached {
      let Some(vm) = a.vm.upgrade() else {
        continue;
      };
      if moves.is_empty() && a.backlog.is_empty() {
        continue;
      }
      let Ok(mut state) = vm.state.try_borrow_mut() else {
        a.backlog.extend_from_slice(&moves);
        continue;
      };
      for m in a.backlog.drain(..).chain(moves.iter().copied()) {
        // Only a destroyed VA space refuses; it is dropped at the next call.
        let _ = state.vm.object_moved(m.id, m.evicted);
      }
      let heap = state.vm.heap_bytes();
      drop(state);
      vm.external.account(env.raw(), heap);
    }
  }
}

#[napi]
impl NativeDevice {
  /// Ties the VA space with this id (`NativeVm.id`) to the device: from now
  /// on each placement move of an object calls its `object_moved`, in Rust.
  /// EINVAL for an id that names no VA space, or one destroyed; attaching
  /// one twice is harmless.
  #[napi(catch_unwind)]
  pub fn attach_vm(&mut self, vm_id: f64) -> Result<()> {
    let Some(vm) = registry::lookup(vm_id) else {
      return Err(einval(format!(
        "no VA space has id {vm_id} (finalized, or never created)"
      )));
    };
    {
      let state = vm.state.try_borrow().map_err(|_| busy())?;
      state.vm.alive().map_err(to_js)?;
    }
    if self
      .attached
      .iter()
      .any(|a| a.vm.upgrade().is_some_and(|v| Rc::ptr_eq(&v, &vm)))
    {
      return Ok(());
    }
    self.attached.push(Attached {
      vm: Rc::downgrade(&vm),
      backlog: Vec::new(),
    });
    self.dev.notify_moves(true);
    Ok(())
  }
}
