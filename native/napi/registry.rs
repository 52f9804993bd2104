//! The VA spaces of this thread, by id: the fast entry points name a VA space
//! by a number (`NativeVm.id`), looked up here. Ids are generation-tagged, so
//! the id of a VA space that was finalized, or one never handed out, finds
//! nothing (an EINVAL error), never another VA space or a crash.

use crate::thread::THREAD;
use crate::vm::Shared;
use std::rc::Rc;

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
pub(crate) struct Registry {
  slots: Vec<Slot>,
  free: Vec<u32>,
}

impl Registry {
  pub(crate) const fn new() -> Self {
    Registry {
      slots: Vec::new(),
      free: Vec::new(),
    }
  }

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

  pub(crate) fn get(&self, id: f64) -> Option<Rc<Shared>> {
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

/// Registers a VA space; returns its id.
pub(crate) fn register(vm: Rc<Shared>) -> f64 {
  THREAD.with(|t| t.registry.borrow_mut().insert(vm))
}

/// The VA space an id names, if it is still registered (a device ties
/// itself to it: device.rs `attach_vm`).
pub(crate) fn lookup(id: f64) -> Option<Rc<Shared>> {
  THREAD.with(|t| t.registry.try_borrow().ok().and_then(|r| r.get(id)))
}

/// Forgets a VA space (its finalizer). Safe to call during thread teardown.
pub(crate) fn unregister(id: f64) {
  // The registry is never borrowed across a Node-API call, so a finalizer
  // cannot find it borrowed; if one ever did, the slot would just stay taken.
  let _ = THREAD.try_with(|t| {
    let vm = t.registry.try_borrow_mut().ok().and_then(|mut r| r.remove(id));
    drop(vm);
  });
}
