//! The per-thread state of the fast entry points, in one thread-local so that
//! a call visits it once: in a shared library every thread-local access is a
//! call to `__tls_get_addr`, a few nanoseconds each.

use crate::io::Registered;
use crate::registry::Registry;
use crate::vm::Shared;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub(crate) struct Thread {
  /// The VA spaces of this thread, by id (registry.rs).
  pub(crate) registry: RefCell<Registry>,
  /// The I/O buffer (io.rs).
  pub(crate) buffer: Cell<Registered>,
  /// The envs given a cleanup hook (Node refuses a hook registered twice).
  pub(crate) hooked: RefCell<Vec<usize>>,
  /// Test hook: the next fast call panics (`forceFastPanicForTest`).
  pub(crate) panic_next: Cell<bool>,
}

thread_local! {
  pub(crate) static THREAD: Thread = const {
    Thread {
      registry: RefCell::new(Registry::new()),
      buffer: Cell::new(Registered::NONE),
      hooked: RefCell::new(Vec::new()),
      panic_next: Cell::new(false),
    }
  };
}

/// What a fast call needs of its thread, in one visit: the VA space `id`
/// names (if any), the I/O buffer, and whether the test hook is armed. The
/// registry is never borrowed across a Node-API call, so this never finds it
/// borrowed; if it did, it would find no VA space.
#[inline]
pub(crate) fn visit(id: f64) -> (Option<Rc<Shared>>, Registered, bool) {
  THREAD.with(|t| {
    let vm = t.registry.try_borrow().ok().and_then(|r| r.get(id));
    (vm, t.buffer.get(), t.panic_next.get())
  })
}
