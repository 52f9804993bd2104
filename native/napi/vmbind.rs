//! `vmbindRun`: the canonical workload replayed entirely inside Rust, one
//! boundary crossing per run.

use crate::convert::{einval, to_js, u64_arg, Result};
use drmsim_core::vmbind::{self, Params, Trace};
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;

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
  crate::raw::quiet_deliberate_panics();
  panic!("drmsim: deliberate panic to test the boundary");
}
