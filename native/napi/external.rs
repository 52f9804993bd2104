//! External-memory accounting: the native memory an object of the binding (a
//! VA space, a device, an allocator) holds, reported to V8 so that the garbage
//! collector weighs what its small JavaScript handle really holds.

use napi::{sys, Env};
use std::cell::Cell;

/// Report changes to V8 in steps of this size, not on every mapping.
const REPORT_STEP: i64 = 256 * 1024;

/// Measure the heap after one changing call in this many: summing a device's
/// heap costs about as much as a validate's binding, and V8 only needs the
/// trend (reports are in `REPORT_STEP`s anyway).
const MEASURE_EVERY: u32 = 32;

/// What one object has reported: its first size at once, then changes in
/// steps of `REPORT_STEP`, and all of it given back by its finalizer.
#[derive(Default)]
pub(crate) struct External {
  /// Bytes reported to V8 so far.
  reported: Cell<i64>,
  /// Set by the finalizer: nothing more is reported.
  finalized: Cell<bool>,
  /// Changing calls since the heap was last measured.
  calls: Cell<u32>,
}

impl External {
  /// Tells V8 how much native memory the object holds now (`heap`). `env` is
  /// the env of the call in progress.
  pub(crate) fn account(&self, env: sys::napi_env, heap: usize) {
    let (now, reported) = (heap as i64, self.reported.get());
    let due = now != reported && (reported == 0 || now == 0 || (now - reported).abs() >= REPORT_STEP);
    if !due || self.finalized.get() {
      return;
    }
    let mut total = 0i64;
    // SAFETY: `env` is the env of the call in progress (every caller passes
    // the env Node handed it), and `total` is a live local for Node to write.
    if unsafe { sys::napi_adjust_external_memory(env, now - reported, &mut total) } == sys::Status::napi_ok {
      self.reported.set(now);
    }
  }

  /// Counts a changing call: true once every `MEASURE_EVERY`.
  fn measure_due(&self) -> bool {
    let n = self.calls.get() + 1;
    self.calls.set(if n == MEASURE_EVERY { 0 } else { n });
    n == MEASURE_EVERY
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
      .account(env.raw(), self.heap_bytes() + size_of::<Self>());
  }

  /// Runs a call that may change the object, then reports its heap (measured
  /// once every `MEASURE_EVERY` calls).
  fn changing<T>(&mut self, env: &Env, f: impl FnOnce(&mut Self) -> T) -> T {
    let out = f(self);
    if self.external().measure_due() {
      self.report(env);
    }
    out
  }
}

/// Makes a napi-rs class that owns an `external` field report its native
/// memory: `Reported`, with `$bytes` its heap (`$this` is the object), and a
/// finalizer that gives the memory back to V8.
macro_rules! reported {
  ($class:ty, |$this:ident| $bytes:expr) => {
    impl $crate::external::Reported for $class {
      fn external(&self) -> &$crate::external::External {
        &self.external
      }
      fn heap_bytes(&self) -> usize {
        let $this = self;
        $bytes
      }
    }

    impl napi::bindgen_prelude::ObjectFinalize for $class {
      fn finalize(self, env: napi::Env) -> napi::Result<()> {
        self.external.release(&env)
      }
    }
  };
}
pub(crate) use reported;
