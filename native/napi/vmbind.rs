//! `vmbindRun`: the canonical workload replayed entirely inside Rust, one
//! boundary crossing per run; with what the run did beyond its summary (the
//! splits and keeps it counted, the mappings it left, samples) when asked.

use crate::convert::{einval, to_js, u64_arg, Result};
use drmsim_core::vmbind::{self, Params, Sample, Trace};
use napi::bindgen_prelude::{BigInt, BigUint64Array};
use napi_derive::napi;
use std::num::NonZeroU64;

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
  /// Also return the mappings left (`mappings`).
  pub details: Option<bool>,
  /// A sample after every `sampleEvery` requests and after the last
  /// (`samples`); at least 1.
  pub sample_every: Option<BigInt>,
  /// A page-table cost model of this profile (issue 15): `cost` in the result.
  pub page_table: Option<crate::pagetable::PtProfile>,
}

/// The counts right after request `req` (numbers: exact below 2^53).
#[napi(object)]
pub struct VmbindSample {
  /// The request just done: its index, from 0, as `req N` in the trace.
  pub req: f64,
  /// Live mappings, the kernel node not counted.
  pub mappings: f64,
  pub map: f64,
  pub remap: f64,
  pub unmap: f64,
  pub splits: f64,
  pub keeps: f64,
  /// Bytes mapped.
  pub mapped_bytes: f64,
}

impl From<&Sample> for VmbindSample {
  fn from(s: &Sample) -> Self {
    let t = &s.tally;
    VmbindSample {
      req: s.req as f64,
      mappings: s.mappings as f64,
      map: t.counts.map as f64,
      remap: t.counts.remap as f64,
      unmap: t.counts.unmap as f64,
      splits: s.splits() as f64,
      keeps: t.keeps as f64,
      mapped_bytes: t.mapped_bytes as f64,
    }
  }
}

#[napi(object)]
pub struct VmbindResult {
  /// The trace lines (mode 'full' only).
  pub trace: Option<String>,
  /// The summary lines.
  pub summary: String,
  /// Nanoseconds spent in the request loop.
  pub loop_ns: f64,
  /// The steps applied, as in the summary's `ops` line.
  pub map: f64,
  pub remap: f64,
  pub unmap: f64,
  /// Remaps that left a piece on each side (a mapping cut in two).
  pub splits: f64,
  /// Remap and unmap steps with keep=1.
  pub keeps: f64,
  /// With `details`: the mappings left in address order, the kernel node
  /// excluded, as a packed batch of map requests (`BATCH_WORDS` words each:
  /// `[BATCH_MAP | obj << 32, addr, range, offset]`).
  pub mappings: Option<BigUint64Array>,
  /// With `sampleEvery`: the samples, in request order.
  pub samples: Option<Vec<VmbindSample>>,
  /// With `pageTable`: its costs (`last`: the last request) and occupancy.
  pub cost: Option<crate::pagetable::PtInfo>,
  /// With `pageTable`: the worst request and the spread of PTE writes.
  pub cost_requests: Option<crate::pagetable::PtRequests>,
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
  let every = match &options.sample_every {
    None => None,
    Some(n) => Some(
      NonZeroU64::new(u64_arg(n, "sampleEvery")?)
        .ok_or_else(|| einval("sampleEvery must be at least 1".into()))?,
    ),
  };
  let profile = options.page_table.map(crate::pagetable::profile).transpose()?;
  let mut out = Vec::new();
  let mut run = vmbind::run_costed(&params, trace, every, profile.as_ref(), &mut out).map_err(to_js)?;
  let cost = run.vm.page_table().map(crate::pagetable::info);
  let cost_requests = run.request_costs.as_ref().map(crate::pagetable::requests);
  Ok(VmbindResult {
    trace: (trace == Trace::Full).then(|| String::from_utf8_lossy(&out).into_owned()),
    summary: run.summary.render(),
    loop_ns: run.loop_time.as_nanos() as f64,
    map: run.summary.counts.map as f64,
    remap: run.summary.counts.remap as f64,
    unmap: run.summary.counts.unmap as f64,
    splits: run.summary.splits as f64,
    keeps: run.summary.keeps as f64,
    mappings: (options.details == Some(true)).then(|| BigUint64Array::new(vmbind::packed_mappings(&run.vm))),
    samples: every.map(|_| run.samples.iter().map(VmbindSample::from).collect()),
    cost,
    cost_requests,
  })
}

/// Panics on purpose, to prove that a panic becomes a JavaScript error.
#[napi(catch_unwind)]
pub fn force_panic_for_test() {
  crate::raw::quiet_deliberate_panics();
  panic!("drmsim: deliberate panic to test the boundary");
}
