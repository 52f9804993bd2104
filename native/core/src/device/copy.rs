//! Time for moves (issue 16): one in-order copy engine per device. A move
//! that has contents to copy becomes a copy job whose fence signals on the
//! simulated clock; the fence joins the buffer's resv as a KERNEL fence, as
//! `ttm_bo_move_accel_cleanup` does, and the placement changes at once.
//! Jobs start after the job before them, after the buffer's own unsignaled
//! fences, and after the last eviction out of the destination domain (the
//! manager's pipelined-eviction fence, `man->move`). `no_wait_gpu` turns any
//! such wait into EBUSY. Off (moves are instant) until `configure_copy`.

use super::{Device, Domain, Usage, Validated, MAX_TYPES};
use crate::errno::{fail, Errno, Result};
use rustc_hash::FxHashMap;

/// The fence context of the copy engine's jobs (user fences use small ones).
pub const COPY_CONTEXT: u32 = 0xffff_ff00;

/// Bytes per second for each (from, to) domain pair and a fixed start-up
/// latency per hop. A VRAM <-> SYSTEM move of a populated buffer bounces
/// through GTT: two hops, each with its own bandwidth and latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyConfig {
  /// Indexed `(from - 1) * 3 + (to - 1)`; the diagonal is unused.
  pub bandwidth: [u64; 9],
  pub latency: u64,
}

/// Defaults: PCIe 4.0 x16 (16 GB/s) between VRAM and the rest, a CPU copy
/// (10 GB/s) between GTT and SYSTEM, 5 us per hop.
pub const DEFAULT_VRAM_LINK: u64 = 16_000_000_000;
pub const DEFAULT_HOST_COPY: u64 = 10_000_000_000;
pub const DEFAULT_LATENCY: u64 = 5_000;

impl Default for CopyConfig {
  fn default() -> Self {
    let (v, h) = (DEFAULT_VRAM_LINK, DEFAULT_HOST_COPY);
    CopyConfig {
      // from system: -, gtt, vram; from gtt: system, -, vram; from vram: system, gtt, -
      bandwidth: [0, h, v, h, 0, v, v, v, 0],
      latency: DEFAULT_LATENCY,
    }
  }
}

/// The bandwidth row of a memory type: SYSTEM, GTT, VRAM; a driver-private
/// type is device memory, so it copies at VRAM's rates.
fn link(d: Domain) -> usize {
  d.index().min(3) as usize - 1
}

impl CopyConfig {
  pub fn bandwidth(&self, from: Domain, to: Domain) -> u64 {
    self.bandwidth[link(from) * 3 + link(to)]
  }

  /// Nanoseconds one hop of `bytes` takes (rounded up).
  fn hop(&self, from: Domain, to: Domain, bytes: u64) -> u64 {
    let bw = u128::from(self.bandwidth(from, to).max(1));
    let ns = (u128::from(bytes) * 1_000_000_000).div_ceil(bw);
    self.latency.saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
  }
}

/// One copy job of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyJob {
  pub fence: u32,
  pub object: u32,
  pub from: Domain,
  pub to: Domain,
  /// Bytes copied, per hop.
  pub bytes: u64,
  pub evicted: bool,
  pub submitted: u64,
  pub duration: u64,
  /// Unknown while a dependency signals only by hand and has not yet.
  pub start: Option<u64>,
  pub end: Option<u64>,
  /// The fences it waited for (the buffer's and the pipelined eviction's).
  pub deps: Vec<u32>,
}

/// A destroyed buffer whose resource waits for its fences (`ttm_bo_delayed_delete`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDestroy {
  pub id: u32,
  pub domain: Domain,
  pub size: u64,
  node: Option<u64>,
  /// The unsignaled fences it had when destroyed (TTM individualizes the resv).
  pub fences: Vec<u32>,
  /// The dmem cgroup still charged for the range.
  pub(crate) charge: Option<u32>,
}

/// What a timed validate did, past `Validated`: the fence the buffer must wait
/// for before CPU access (its move, else an eviction it depends on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimedValidated {
  pub base: Validated,
  pub fence: Option<u32>,
  pub fence_end: Option<u64>,
}

#[derive(Default)]
pub(crate) struct CopyEngine {
  cfg: CopyConfig,
  seqno: u32,
  jobs: Vec<CopyJob>,
  /// Jobs before it have known times; it and all after wait for a fence signaled by hand.
  scheduled: usize,
  /// The last eviction out of each memory type (SYSTEM, GTT, VRAM, the private ones).
  evict_fence: [Option<u32>; MAX_TYPES as usize],
  /// When fences signaled by hand did.
  signal_times: FxHashMap<u32, u64>,
  pending: Vec<PendingDestroy>,
  no_wait_gpu: bool,
  /// A no_wait_gpu call met a busy victim, buffer or domain.
  busy: bool,
  /// The latest fence the validated buffer got in this call.
  own_fence: Option<u32>,
}

impl Device {
  /// Turns the copy engine on (moves take time, destroys wait for fences).
  /// EINVAL for a zero bandwidth between two different domains.
  pub fn configure_copy(&mut self, cfg: CopyConfig) -> Result<()> {
    for (i, &bw) in cfg.bandwidth.iter().enumerate() {
      if bw == 0 && i % 4 != 0 {
        return fail(
          Errno::EINVAL,
          "copy bandwidth between two domains must be above 0",
        );
      }
    }
    let engine = self.copy.get_or_insert_with(Box::default);
    engine.cfg = cfg;
    Ok(())
  }

  pub fn copy_config(&self) -> Option<CopyConfig> {
    self.copy.as_ref().map(|c| c.cfg)
  }

  pub fn copy_jobs(&self) -> &[CopyJob] {
    self.copy.as_ref().map_or(&[], |c| &c.jobs)
  }

  /// `ttm_bo_validate` with a `ttm_operation_ctx`'s `no_wait_gpu`; reports the
  /// fence the buffer must wait for. EBUSY (instead of ENOMEM) when no_wait_gpu
  /// met something busy.
  pub fn validate_timed(
    &mut self,
    thread: u32,
    id: u32,
    placement: &[super::Place],
    no_wait_gpu: bool,
  ) -> Result<TimedValidated> {
    self.reap_destroyed();
    if let Some(c) = self.copy.as_mut() {
      c.no_wait_gpu = no_wait_gpu;
      c.busy = false;
      c.own_fence = None;
    }
    let r = self.validate(thread, id, placement);
    let (busy, fence) = match self.copy.as_mut() {
      Some(c) => {
        c.no_wait_gpu = false;
        (c.busy, c.own_fence.take())
      }
      None => (false, None),
    };
    let base = match r {
      Err(e) if busy && matches!(e.errno, Errno::ENOMEM | Errno::ENOSPC) => {
        return fail(Errno::EBUSY, format!("no_wait_gpu: {}", e.message));
      }
      r => r?,
    };
    let fence_end = fence.and_then(|f| self.fences[f as usize - 1].signal_at);
    Ok(TimedValidated {
      base,
      fence,
      fence_end,
    })
  }

  fn fence_known_time(&self, f: u32) -> Option<u64> {
    if let Some(&t) = self.copy.as_ref().and_then(|c| c.signal_times.get(&f)) {
      return Some(t);
    }
    let fence = self.fences.get(f as usize - 1)?;
    match fence.signal_at {
      Some(t) => Some(t),
      None if fence.signaled => Some(0),
      None => None,
    }
  }

  fn unsignaled(&self, resv: u32) -> Vec<u32> {
    self
      .fences(resv, Usage::Bookkeep)
      .unwrap_or_default()
      .into_iter()
      .map(|(f, _)| f)
      .filter(|&f| !self.signaled_unchecked(f))
      .collect()
  }

  fn has_contents(&self, id: u32) -> bool {
    self
      .object(id)
      .is_ok_and(|o| !o.purged && (o.populated || o.domain != Domain::System))
  }

  /// no_wait_gpu and the buffer itself must wait before its contents can move.
  pub(crate) fn copy_buffer_busy(&mut self, id: u32) -> bool {
    if !self.copy.as_ref().is_some_and(|c| c.no_wait_gpu) || !self.has_contents(id) {
      return false;
    }
    let resv = match self.object(id) {
      Ok(o) => o.resv,
      Err(_) => return false,
    };
    let busy = !self.unsignaled(resv).is_empty();
    self.mark_busy(busy)
  }

  /// no_wait_gpu and an eviction victim still has unsignaled fences: skip it.
  pub(crate) fn copy_victim_busy(&mut self, victim: u32) -> bool {
    if !self.copy.as_ref().is_some_and(|c| c.no_wait_gpu) {
      return false;
    }
    let resv = match self.object(victim) {
      Ok(o) => o.resv,
      Err(_) => return false,
    };
    let busy = !self.unsignaled(resv).is_empty();
    self.mark_busy(busy)
  }

  /// `ttm_bo_add_pipelined_eviction_fences` with no_wait_gpu: a range just
  /// allocated in `d` whose last eviction is still copying is given back.
  pub(crate) fn copy_place_busy(&mut self, d: Domain, node: Option<u64>) -> bool {
    let Some(c) = self.copy.as_ref() else {
      return false;
    };
    let pending = c.evict_fence[d.index() as usize - 1].filter(|&f| !self.signaled_unchecked(f));
    if !c.no_wait_gpu || pending.is_none() {
      return false;
    }
    self.domain_free(d, node);
    self.mark_busy(true)
  }

  fn mark_busy(&mut self, busy: bool) -> bool {
    if busy {
      if let Some(c) = self.copy.as_mut() {
        c.busy = true;
      }
    }
    busy
  }

  /// The copy job of a move (none for a buffer without contents: a null
  /// move); the buffer still waits for the destination's last eviction.
  pub(crate) fn copy_move(
    &mut self,
    id: u32,
    from: Domain,
    to: Domain,
    bounce: bool,
    evicted: bool,
  ) -> Result<()> {
    if self.copy.is_none() {
      return Ok(());
    }
    let (resv, size) = {
      let o = self.object(id)?;
      (o.resv, o.size)
    };
    let contents = self.has_contents(id);
    let mut deps = if contents {
      self.unsignaled(resv)
    } else {
      Vec::new()
    };
    let evict = self
      .copy
      .as_ref()
      .and_then(|c| c.evict_fence[to.index() as usize - 1]);
    let mut last = None;
    if let Some(f) = evict.filter(|&f| !self.signaled_unchecked(f)) {
      self.add_kernel_fence(resv, f)?;
      deps.push(f);
      last = Some(f);
    }
    if contents {
      let c = self.copy.as_ref().map(|c| c.cfg).unwrap_or_default();
      let duration = if bounce {
        c.hop(from, Domain::Gtt, size)
          .saturating_add(c.hop(Domain::Gtt, to, size))
      } else {
        c.hop(from, to, size)
      };
      let seqno = self.copy.as_ref().map_or(0, |c| c.seqno) + 1;
      let fence = self.create_fence(COPY_CONTEXT, seqno, None)?;
      let now = self.now;
      if let Some(c) = self.copy.as_mut() {
        c.seqno = seqno;
        c.jobs.push(CopyJob {
          fence,
          object: id,
          from,
          to,
          bytes: size,
          evicted,
          submitted: now,
          duration,
          start: None,
          end: None,
          deps,
        });
        if evicted {
          // The range it leaves is read until the copy ends (`man->move`).
          c.evict_fence[from.index() as usize - 1] = Some(fence);
        }
      }
      self.add_kernel_fence(resv, fence)?;
      self.schedule_copies();
      last = Some(fence);
    }
    if !evicted && last.is_some() {
      if let Some(c) = self.copy.as_mut() {
        c.own_fence = last;
      }
    }
    Ok(())
  }

  /// Gives times to the jobs whose dependencies' times are known, in order.
  fn schedule_copies(&mut self) {
    let Some(c) = self.copy.as_ref() else {
      return;
    };
    let (from, len) = (c.scheduled, c.jobs.len());
    for i in from..len {
      let (submitted, duration, prev_end, deps) = {
        let c = self.copy.as_ref().expect("checked above");
        let prev = if i == 0 { Some(0) } else { c.jobs[i - 1].end };
        (
          c.jobs[i].submitted,
          c.jobs[i].duration,
          prev,
          c.jobs[i].deps.clone(),
        )
      };
      let mut start = match prev_end {
        Some(p) => submitted.max(p),
        None => return,
      };
      for f in deps {
        match self.fence_known_time(f) {
          Some(t) => start = start.max(t),
          None => return,
        }
      }
      let end = start.saturating_add(duration);
      let fence = {
        let c = self.copy.as_mut().expect("checked above");
        let job = &mut c.jobs[i];
        job.start = Some(start);
        job.end = Some(end);
        c.scheduled = i + 1;
        job.fence
      };
      self.fences[fence as usize - 1].signal_at = Some(end);
    }
  }

  /// A fence signaled by hand: jobs waiting for it can now be timed.
  pub(crate) fn copy_fence_signaled(&mut self, f: u32) {
    let now = self.now;
    let Some(c) = self.copy.as_mut() else {
      return;
    };
    c.signal_times.entry(f).or_insert(now);
    self.schedule_copies();
    self.reap_destroyed();
  }

  /// `dma_resv_add_fence` for TTM's own KERNEL fences: the slot is TTM's to
  /// reserve, so no violation; the same replacement rules as a user add.
  fn add_kernel_fence(&mut self, resv: u32, fence: u32) -> Result<()> {
    let (ctx, seqno) = {
      let f = self.fence(fence)?;
      (f.context, f.seqno)
    };
    let entries = self.resv(resv)?.fences.clone();
    for (i, (old, _)) in entries.iter().copied().enumerate() {
      let o = self.fence(old)?;
      if old == fence || o.context == ctx && seqno >= o.seqno || self.signaled_unchecked(old) {
        self.resv_mut(resv)?.fences[i] = (fence, Usage::Kernel);
        return Ok(());
      }
    }
    let r = self.resv_mut(resv)?;
    r.fences.push((fence, Usage::Kernel));
    r.max_fences = r.max_fences.max(r.fences.len());
    Ok(())
  }

  /// The last reference went while the resv has unsignaled fences: keep the
  /// range (off every LRU) until they signal. True when it was kept.
  pub(crate) fn delay_destroy(
    &mut self,
    id: u32,
    resv: u32,
    domain: Domain,
    node: Option<u64>,
    size: u64,
  ) -> bool {
    if self.copy.is_none() {
      return false;
    }
    let fences = self.unsignaled(resv);
    if fences.is_empty() {
      return false;
    }
    if let Some(c) = self.copy.as_mut() {
      c.pending.push(PendingDestroy {
        id,
        domain,
        size,
        node,
        fences,
        charge: None,
      });
    }
    true
  }

  /// A CPU access through a mapping while the buffer's KERNEL fences (a move)
  /// are unsignaled is recorded; false then.
  pub(crate) fn copy_access_check(&mut self, id: u32) -> bool {
    if self.copy.is_none() {
      return true;
    }
    let Ok(resv) = self.object(id).map(|o| o.resv) else {
      return true;
    };
    let busy: Vec<u32> = self
      .fences(resv, Usage::Kernel)
      .unwrap_or_default()
      .into_iter()
      .map(|(f, _)| f)
      .filter(|&f| !self.signaled_unchecked(f))
      .collect();
    let Some(&f) = busy.first() else {
      return true;
    };
    self.violate(
      super::ViolationKind::AccessDuringMove,
      id,
      format!("GEM object {id}: CPU access while its move fence {f} has not signaled"),
    );
    false
  }

  /// The dmem charge the last pending destroy keeps until its range is freed.
  pub(crate) fn set_pending_charge(&mut self, charge: Option<u32>) {
    if let Some(p) = self.copy.as_mut().and_then(|c| c.pending.last_mut()) {
      p.charge = charge;
    }
  }

  /// Frees the pending destroys whose fences have all signaled, oldest first.
  pub(crate) fn reap_destroyed(&mut self) {
    let Some(c) = self.copy.as_ref() else {
      return;
    };
    if c.pending.is_empty() {
      return;
    }
    let (done, kept): (Vec<_>, Vec<_>) = c
      .pending
      .clone()
      .into_iter()
      .partition(|p| p.fences.iter().all(|&f| self.signaled_unchecked(f)));
    for p in &done {
      self.domain_free(p.domain, p.node);
      if let Some(cg) = p.charge {
        self.dmem_uncharge_cgroup(cg, p.size, p.domain);
      }
    }
    if let Some(c) = self.copy.as_mut() {
      c.pending = kept;
    }
  }

  /// Destroyed buffers still holding their range, oldest first.
  pub fn pending_destroy(&mut self) -> Vec<PendingDestroy> {
    self.reap_destroyed();
    self.copy.as_ref().map_or_else(Vec::new, |c| c.pending.clone())
  }

  /// When a pending destroy's fences have all signaled, if known.
  pub fn pending_until(&self, p: &PendingDestroy) -> Option<u64> {
    p.fences
      .iter()
      .try_fold(0u64, |m, &f| self.fence_known_time(f).map(|t| m.max(t)))
  }
}

#[cfg(test)]
mod tests;
