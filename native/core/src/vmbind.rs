//! The canonical bind/unbind workload (`shared/workloads/vmbind.md`): a
//! deterministic request stream replayed against one VA space, with its trace
//! and the hashes that the golden files pin down.

use crate::errno::{fail, Errno, Result};
use crate::gpuvm::{GpuVm, Link, Op, OpCounts, OpMap, SmKind, WalkTally};
use crate::wire::{
  BATCH_AT_ADDR, BATCH_AT_HEAD, BATCH_AT_OFFSET, BATCH_AT_RANGE, BATCH_MAP, BATCH_OBJ_SHIFT, BATCH_WORDS,
};

pub const PAGE_SIZE: u64 = 4096;
pub const BASE: u64 = 0x1_0000_0000;
pub const VA_RANGE: u64 = 1 << 48;
pub const KERNEL_RESERVE: (u64, u64) = (0, PAGE_SIZE);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
  pub seed: u64,
  pub ops: u64,
  /// Pages of VA the requests fall in.
  pub window: u64,
  /// Longest request, in pages.
  pub max_pages: u64,
  /// Distinct GEM objects, ids 1..=objects.
  pub objects: u64,
  /// Share of requests that are maps, in percent.
  pub map_percent: u64,
}

impl Default for Params {
  fn default() -> Self {
    Params {
      seed: 1,
      ops: 100_000,
      window: 1 << 20,
      max_pages: 64,
      objects: 1024,
      map_percent: 70,
    }
  }
}

impl Params {
  pub fn validate(&self) -> Result<()> {
    let bad = |what: &str| fail(Errno::EINVAL, format!("vmbind: {what}"));
    if self.window == 0 || self.window > (VA_RANGE - BASE) / PAGE_SIZE {
      return bad("window must be between 1 and the pages above the base address");
    }
    if self.max_pages == 0 {
      return bad("max-pages must be at least 1");
    }
    if self.objects == 0 || self.objects > u64::from(u32::MAX) - 1 {
      return bad("objects must be between 1 and 2^32-2");
    }
    if self.map_percent > 100 {
      return bad("map-percent must be at most 100");
    }
    Ok(())
  }
}

/// splitmix64, as the workload specifies it.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
  pub fn new(seed: u64) -> Self {
    SplitMix64(seed)
  }
  pub fn next_u64(&mut self) -> u64 {
    self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = self.0;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
  }
  /// A draw in `[0, n)`: `next_u64() % n`, taken with a mask when `n` is a
  /// power of two (the workload's defaults), the same value without the
  /// latency of a 64-bit division.
  #[inline]
  pub fn below(&mut self, n: u64) -> u64 {
    let x = self.next_u64();
    if n.is_power_of_two() {
      x & (n - 1)
    } else {
      x % n
    }
  }
}

/// FNV-1a, 64 bit.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a64(pub u64);

impl Default for Fnv1a64 {
  fn default() -> Self {
    Fnv1a64(0xcbf2_9ce4_8422_2325)
  }
}

impl Fnv1a64 {
  pub fn update(&mut self, bytes: &[u8]) {
    for &b in bytes {
      self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
  }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
  Map(OpMap),
  Unmap { addr: u64, range: u64 },
}

impl Request {
  /// The first address the request covers.
  pub fn addr(&self) -> u64 {
    match self {
      Request::Map(m) => m.addr,
      Request::Unmap { addr, .. } => *addr,
    }
  }
}

/// The request stream, drawn in exactly the order the workload fixes.
pub struct Requests {
  rng: SplitMix64,
  params: Params,
  left: u64,
}

impl Requests {
  pub fn new(params: Params) -> Self {
    Requests {
      rng: SplitMix64::new(params.seed),
      params,
      left: params.ops,
    }
  }
}

impl Iterator for Requests {
  type Item = Request;
  fn next(&mut self) -> Option<Request> {
    if self.left == 0 {
      return None;
    }
    self.left -= 1;
    let p = &self.params;
    let is_map = self.rng.below(100) < p.map_percent;
    let page = self.rng.below(p.window);
    let pages = (1 + self.rng.below(p.max_pages)).min(p.window - page);
    let addr = BASE + page * PAGE_SIZE;
    let range = pages * PAGE_SIZE;
    Some(if is_map {
      let obj = 1 + self.rng.below(p.objects) as u32;
      let offset = self.rng.below(256) * PAGE_SIZE;
      Request::Map(OpMap {
        addr,
        range,
        obj,
        offset,
      })
    } else {
      Request::Unmap { addr, range }
    })
  }
}

/// A request stream read two ahead: each request comes with the start
/// addresses of the two after it (0 past the end), what
/// `GpuVm::look_ahead` takes. The requests wait in a ring of four.
pub struct Ahead<I: Iterator<Item = Request>> {
  reqs: I,
  ring: [Request; 4],
  at: usize,
  /// Requests in the ring not yet handed out.
  queued: usize,
}

impl<I: Iterator<Item = Request>> Ahead<I> {
  pub fn new(mut reqs: I) -> Self {
    let mut ring = [Request::Unmap { addr: 0, range: 0 }; 4];
    let mut queued = 0;
    for slot in &mut ring[..3] {
      let Some(r) = reqs.next() else { break };
      *slot = r;
      queued += 1;
    }
    Ahead {
      reqs,
      ring,
      at: 0,
      queued,
    }
  }
}

impl<I: Iterator<Item = Request>> Iterator for Ahead<I> {
  type Item = (Request, u64, u64);
  #[inline]
  fn next(&mut self) -> Option<Self::Item> {
    if self.queued == 0 {
      return None;
    }
    let req = self.ring[self.at];
    // The requests after this one: those queued behind it, and a new one.
    self.queued -= 1;
    if let Some(r) = self.reqs.next() {
      self.ring[(self.at + 3) % 4] = r;
      self.queued += 1;
    }
    let addr = |k: usize| {
      if k <= self.queued {
        self.ring[(self.at + k) % 4].addr()
      } else {
        0
      }
    };
    let ahead = (req, addr(1), addr(2));
    self.at = (self.at + 1) % 4;
    Some(ahead)
  }
}

/// What the steps applied so far did, counted as they are applied; with the
/// live mapping count, also how many were splits (`splits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
  pub counts: OpCounts,
  /// Remap and unmap steps with keep=1.
  pub keeps: u64,
  /// Bytes mapped (the kernel node not counted); kept only by a run that
  /// samples, 0 otherwise.
  pub mapped_bytes: u64,
}

impl Tally {
  /// Counts one step: its kind and keep flag, and with `BYTES` the bytes it
  /// maps and unmaps. The kind is matched anyway; the rest is an add or two
  /// on data the step holds.
  #[inline(always)]
  fn add<const BYTES: bool>(&mut self, op: &Op) {
    match op {
      Op::Map(m) => {
        self.counts.map += 1;
        if BYTES {
          self.mapped_bytes += m.range;
        }
      }
      Op::Remap(r) => {
        self.counts.remap += 1;
        self.keeps += u64::from(r.unmap.keep);
        if BYTES {
          let pieces = r.prev.map_or(0, |p| p.range) + r.next.map_or(0, |n| n.range);
          self.mapped_bytes = self.mapped_bytes - r.unmap.va.range + pieces;
        }
      }
      Op::Unmap(u) => {
        self.counts.unmap += 1;
        self.keeps += u64::from(u.keep);
        if BYTES {
          self.mapped_bytes -= u.va.range;
        }
      }
      Op::Prefetch(_) => {}
    }
  }

  /// Counts the steps of a walk that applied itself (`GpuVm::walk_request`).
  #[inline(always)]
  fn add_walk<const BYTES: bool>(&mut self, walk: &WalkTally) {
    self.counts.map += walk.counts.map;
    self.counts.remap += walk.counts.remap;
    self.counts.unmap += walk.counts.unmap;
    self.keeps += walk.keeps;
    if BYTES {
      self.mapped_bytes = self.mapped_bytes.wrapping_add(walk.mapped_bytes);
    }
  }

  /// Remaps that left a piece on each side (a mapping cut in two), from the
  /// `mappings` live after the steps counted, which were none before them.
  /// Each step changes that count by the pieces it leaves less the mapping
  /// it removes: a map by +1, an unmap by -1, a remap by +1 when it leaves
  /// two pieces and by 0 when it leaves one (a step that would leave none is
  /// an unmap). So the splits are what the count gained beyond maps less
  /// unmaps, and the loop need not look at the pieces.
  pub fn splits(&self, mappings: u64) -> u64 {
    mappings + self.counts.unmap - self.counts.map
  }
}

/// The state right after request `req` (from 0, as `req N` in the trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
  pub req: u64,
  /// Live mappings, the kernel node not counted.
  pub mappings: u64,
  pub tally: Tally,
}

impl Sample {
  pub fn splits(&self) -> u64 {
    self.tally.splits(self.mappings)
  }
}

/// What a run reports; `trace_hash` is absent when the trace was not hashed.
/// `render` prints the workload's summary lines; `splits` and `keeps` are
/// beyond them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
  pub requests: u64,
  pub counts: OpCounts,
  pub splits: u64,
  pub keeps: u64,
  pub mappings: u64,
  pub trace_hash: Option<u64>,
  pub state_hash: u64,
}

impl Summary {
  /// The summary lines of the workload's format.
  pub fn render(&self) -> String {
    let mut s = format!(
      "requests {}\nops map={} remap={} unmap={}\nmappings {}\n",
      self.requests, self.counts.map, self.counts.remap, self.counts.unmap, self.mappings
    );
    if let Some(h) = self.trace_hash {
      s += &format!("trace_fnv1a64 {h:016x}\n");
    }
    s += &format!("state_fnv1a64 {:016x}\n", self.state_hash);
    s
  }
}

/// How much of the trace a run produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trace {
  /// Keep every line (returned with the summary).
  Full,
  /// Hash every line, keep none.
  Hash,
  /// Neither: the request loop alone, for timing.
  Off,
}

pub fn request_line(out: &mut Vec<u8>, i: u64, req: &Request) {
  out.extend_from_slice(b"req ");
  line::dec(out, i);
  match req {
    Request::Map(m) => {
      out.extend_from_slice(b" map ");
      line::hexes(out, &[m.addr, m.range, u64::from(m.obj), m.offset], b' ');
    }
    Request::Unmap { addr, range } => {
      out.extend_from_slice(b" unmap ");
      line::hexes(out, &[*addr, *range], b' ');
    }
  }
  out.push(b'\n');
}

pub fn op_line(out: &mut Vec<u8>, op: &Op) {
  let piece = |out: &mut Vec<u8>, p: &Option<OpMap>| match p {
    Some(p) => line::hexes(out, &[p.addr, p.range, u64::from(p.obj), p.offset], b','),
    None => out.push(b'-'),
  };
  match op {
    Op::Map(m) => {
      out.extend_from_slice(b"op map ");
      line::hexes(out, &[m.addr, m.range, u64::from(m.obj), m.offset], b' ');
    }
    Op::Remap(r) => {
      out.extend_from_slice(b"op remap ");
      line::hexes(out, &[r.unmap.va.addr, r.unmap.va.range], b' ');
      out.extend_from_slice(if r.unmap.keep {
        b" keep=1 prev="
      } else {
        b" keep=0 prev="
      });
      piece(out, &r.prev);
      out.extend_from_slice(b" next=");
      piece(out, &r.next);
    }
    Op::Unmap(u) => {
      out.extend_from_slice(b"op unmap ");
      let va = &u.va;
      line::hexes(out, &[va.addr, va.range, u64::from(va.obj), va.offset], b' ');
      out.extend_from_slice(if u.keep { b" keep=1" } else { b" keep=0" });
    }
    Op::Prefetch(va) => {
      out.extend_from_slice(b"op prefetch ");
      line::hexes(out, &[va.addr, va.range], b' ');
    }
  }
  out.push(b'\n');
}

/// FNV-1a over the final mappings in address order, the kernel node excluded.
pub fn state_hash(vm: &GpuVm) -> u64 {
  let mut h = Fnv1a64::default();
  let mut out = Vec::with_capacity(80);
  for va in vm.iter().filter(|va| !va.is_kernel_node()) {
    out.clear();
    line::hexes(&mut out, &[va.addr, va.range, u64::from(va.obj), va.offset], b' ');
    out.push(b'\n');
    h.update(&out);
  }
  h.0
}

pub fn new_vm() -> GpuVm {
  GpuVm::new("vmbind", 0, VA_RANGE, Some(KERNEL_RESERVE))
}

/// The mappings `vm` holds in address order, the kernel node excluded, as
/// the packed batch of map requests that would make them
/// (`crate::wire::BATCH_WORDS` words each: `[BATCH_MAP | obj << 32, addr,
/// range, offset]`).
pub fn packed_mappings(vm: &GpuVm) -> Vec<u64> {
  let mut words = Vec::with_capacity(vm.mapping_count() * BATCH_WORDS);
  for va in vm.iter().filter(|va| !va.is_kernel_node()) {
    let mut w = [0u64; BATCH_WORDS];
    w[BATCH_AT_HEAD] = BATCH_MAP | u64::from(va.obj) << BATCH_OBJ_SHIFT;
    w[BATCH_AT_ADDR] = va.addr;
    w[BATCH_AT_RANGE] = va.range;
    w[BATCH_AT_OFFSET] = va.offset;
    words.extend_from_slice(&w);
  }
  words
}

/// The result of a run: its summary, the VA space it left, the samples taken
/// and the time the request loop took (no summary hashing).
pub struct Run {
  pub summary: Summary,
  pub vm: GpuVm,
  /// The samples `run_sampled` was asked for, in request order.
  pub samples: Vec<Sample>,
  pub loop_time: std::time::Duration,
  /// With a page table (`run_costed`): each request's cost, summed up.
  pub request_costs: Option<crate::pagetable::RequestCosts>,
}

/// Replays the workload. With `Trace::Full` the trace lines are appended to
/// `out`; the summary is returned, not written.
pub fn run(params: &Params, trace: Trace, out: &mut Vec<u8>) -> Result<Run> {
  run_sampled(params, trace, None, out)
}

/// `run`, with a sample of the tally after every `every` requests (after
/// request `every - 1`, `2 * every - 1`, ...) and after the last request,
/// unless that one was just sampled; none when there is no request.
pub fn run_sampled(
  params: &Params,
  trace: Trace,
  every: Option<std::num::NonZeroU64>,
  out: &mut Vec<u8>,
) -> Result<Run> {
  run_costed(params, trace, every, None, out)
}

/// `run_sampled` on a VA space with a page table of `profile` when given (the
/// page-table cost model, crate::pagetable): its costs are read from the
/// `Run`'s VA space.
pub fn run_costed(
  params: &Params,
  trace: Trace,
  every: Option<std::num::NonZeroU64>,
  profile: Option<&crate::pagetable::Profile>,
  out: &mut Vec<u8>,
) -> Result<Run> {
  params.validate()?;
  let mut vm = new_vm();
  if let Some(p) = profile {
    vm.attach_page_table(p.clone())?;
  }
  // Without samples the loop counts no bytes and checks for no sample due:
  // beyond the step counts it always kept, it adds only the keep flags.
  match every {
    None => run_loop::<false>(vm, params, trace, u64::MAX, out),
    Some(every) => run_loop::<true>(vm, params, trace, every.get(), out),
  }
}

fn run_loop<const SAMPLED: bool>(
  mut vm: GpuVm,
  params: &Params,
  trace: Trace,
  every: u64,
  out: &mut Vec<u8>,
) -> Result<Run> {
  let mut tally = Tally::default();
  let mut samples = Vec::new();
  // Requests left before the next sample.
  let mut countdown = every;
  let mut hash = Fnv1a64::default();
  let mut scratch = Vec::with_capacity(160);
  let mut emit = |out: &mut Vec<u8>, scratch: &mut Vec<u8>, write: &dyn Fn(&mut Vec<u8>)| match trace {
    Trace::Off => {}
    Trace::Hash => {
      scratch.clear();
      write(scratch);
      hash.update(scratch);
    }
    Trace::Full => {
      let at = out.len();
      write(out);
      hash.update(&out[at..]);
    }
  };
  // With a page table, each request is a request window of its own.
  let mut request_costs = vm.page_table().map(|_| crate::pagetable::RequestCosts::default());
  // With no step to cost, each walk applies itself where it stands
  // (gpuvm/walk.rs), showing each step to the trace before it is made.
  let in_place = request_costs.is_none();
  let started = std::time::Instant::now();
  for (i, (req, next, after)) in Ahead::new(Requests::new(*params)).enumerate() {
    vm.look_ahead(next, after);
    emit(out, &mut scratch, &|b| request_line(b, i as u64, &req));
    if request_costs.is_some() {
      if let Some(pt) = vm.page_table() {
        pt.begin_request();
      }
    }
    let (kind, m) = match req {
      Request::Map(m) => (SmKind::Map, m),
      Request::Unmap { addr, range } => (SmKind::Unmap, OpMap::bare(addr, range)),
    };
    if in_place && vm.walks_in_place(m.range) {
      let walked = if trace == Trace::Off {
        vm.walk_request(kind, m, false)?
      } else {
        vm.walk_request_steps(kind, m, false, |op| emit(out, &mut scratch, &|b| op_line(b, op)))?
      };
      tally.add_walk::<SAMPLED>(&walked);
    } else {
      let mut cursor = match kind {
        SmKind::Map => vm.sm_map(m.addr, m.range, m.obj, m.offset)?,
        SmKind::Unmap => vm.sm_unmap(m.addr, m.range)?,
      };
      while let Some(op) = cursor.step(&vm) {
        emit(out, &mut scratch, &|b| op_line(b, &op));
        vm.apply_own_step(&op, Link::No)?;
        tally.add::<SAMPLED>(&op);
      }
    }
    if let Some(costs) = request_costs.as_mut() {
      if let Some(pt) = vm.page_table() {
        costs.record(i as u64, &pt.last_request());
      }
    }
    if SAMPLED {
      countdown -= 1;
      if countdown == 0 {
        countdown = every;
        samples.push(Sample {
          req: i as u64,
          mappings: vm.mapping_count() as u64,
          tally,
        });
      }
    }
  }
  let loop_time = started.elapsed();
  let mappings = vm.mapping_count() as u64;
  if SAMPLED && params.ops > 0 && samples.last().map(|s| s.req) != Some(params.ops - 1) {
    samples.push(Sample {
      req: params.ops - 1,
      mappings,
      tally,
    });
  }
  let summary = Summary {
    requests: params.ops,
    counts: tally.counts,
    splits: tally.splits(mappings),
    keeps: tally.keeps,
    mappings,
    trace_hash: (trace != Trace::Off).then_some(hash.0),
    state_hash: state_hash(&vm),
  };
  Ok(Run {
    summary,
    vm,
    samples,
    loop_time,
    request_costs,
  })
}

mod line;
#[cfg(test)]
mod tests;
