//! The page-table cost model's calls on `NativeVm` (lib/contract/pagetable.ts):
//! cold napi-rs methods over `drmsim_core::pagetable`. Counts cross as
//! numbers (exact below 2^53), byte totals and addresses as BigInt.

use crate::convert::{einval, Result};
use crate::vm::NativeVm;
use drmsim_core::pagetable::{Cost, LevelSpec, PageTable, Profile, RequestCosts};
use napi::bindgen_prelude::{BigInt, Float64ArraySlice};
use napi::Env;
use napi_derive::napi;

#[napi(object)]
pub struct PtLevel {
  pub bits: u32,
  pub entry_bytes: u32,
  pub leaf: bool,
}

#[napi(object)]
pub struct PtProfile {
  pub name: String,
  pub page_shift: u32,
  pub levels: Vec<PtLevel>,
}

/// A cost as `[pteWrites, pdeWrites, ptPagesAllocated, ptPagesFreed,
/// tlbInvalidations, hugePageSplits, hugePagesFormed]`, and its TLB bytes.
#[napi(object)]
pub struct PtCost {
  pub counts: Vec<f64>,
  pub tlb_bytes: BigInt,
}

#[napi(object)]
pub struct PtInfo {
  pub total: PtCost,
  pub last: PtCost,
  /// The last request's invalidated ranges, `[addr, range]` pairs.
  pub tlb_ranges: Vec<BigInt>,
  pub tables: Vec<f64>,
  pub entries: Vec<f64>,
  pub leaves: Vec<f64>,
  pub bytes: f64,
}

/// Per-request costs of a whole run (`vmbind` with a page table).
#[napi(object)]
pub struct PtRequests {
  /// The request with the most PTE writes (the first of equals), -1 without requests.
  pub worst_request: f64,
  pub worst: PtCost,
  /// `[PTE writes, requests]` pairs, by increasing writes.
  pub pte_spread: Vec<f64>,
}

pub(crate) fn requests(r: &RequestCosts) -> PtRequests {
  let (index, worst) = r.worst.map_or((-1.0, Cost::default()), |(i, c)| (i as f64, c));
  PtRequests {
    worst_request: index,
    worst: cost(worst),
    pte_spread: r
      .pte_spread()
      .into_iter()
      .flat_map(|(n, k)| [n as f64, k as f64])
      .collect(),
  }
}

/// A cost's seven counts, in the order both JavaScript decoders read them.
fn cost_counts(c: &Cost) -> [u64; 7] {
  [
    c.pte_writes,
    c.pde_writes,
    c.pt_pages_allocated,
    c.pt_pages_freed,
    c.tlb_invalidations,
    c.huge_page_splits,
    c.huge_pages_formed,
  ]
}

fn cost(c: Cost) -> PtCost {
  PtCost {
    counts: cost_counts(&c).iter().map(|&v| v as f64).collect(),
    tlb_bytes: BigInt::from(c.tlb_bytes),
  }
}

fn narrow<T: TryFrom<u32>>(v: u32, what: &str) -> Result<T> {
  T::try_from(v).map_err(|_| einval(format!("page-table profile: {what} {v} is out of range")))
}

pub(crate) fn profile(p: PtProfile) -> Result<Profile> {
  let mut levels = Vec::with_capacity(p.levels.len());
  for l in p.levels {
    levels.push(LevelSpec {
      bits: narrow(l.bits, "bits")?,
      entry_bytes: narrow(l.entry_bytes, "entryBytes")?,
      leaf: l.leaf,
    });
  }
  Ok(Profile {
    name: p.name,
    page_shift: narrow(p.page_shift, "pageShift")?,
    levels,
  })
}

fn counts(v: &[u64]) -> Vec<f64> {
  v.iter().map(|&x| x as f64).collect()
}

#[napi]
impl NativeVm {
  /// Attaches a page-table cost model of `profile` (built from the mappings
  /// already there).
  #[napi(catch_unwind)]
  pub fn attach_page_table(&self, env: Env, p: PtProfile) -> Result<()> {
    let p = profile(p)?;
    self.changing(&env, |vm| vm.attach_page_table(p))
  }

  /// Starts a new request window for the last-request cost.
  #[napi(catch_unwind)]
  pub fn page_table_begin_request(&self) -> Result<()> {
    self.reading(|vm| {
      if let Some(pt) = vm.page_table() {
        pt.begin_request();
      }
      Ok(())
    })
  }

  /// The cheap read (no TLB ranges, no objects): fills `out` with the last
  /// request's cost, the total and the occupancy as numbers (`COUNTS_LEN`
  /// lib/contract/pagetable.ts decodes); false without a page table.
  #[napi(catch_unwind)]
  pub fn page_table_counts(&self, mut out: Float64ArraySlice) -> Result<bool> {
    // SAFETY: the slice is the array's memory, valid for this call, and the
    // mutable borrow ends with it. JavaScript on this thread waits for the
    // call; the engine (lib/native/pagetable.ts) passes its own array.
    let out = unsafe { out.as_mut() };
    self.reading(|vm| {
      let Some(pt) = vm.page_table() else {
        return Ok(false);
      };
      if out.len() < COUNTS_LEN {
        return Err(drmsim_core::errno::Error::new(
          drmsim_core::errno::Errno::EINVAL,
          format!("page_table_counts needs {COUNTS_LEN} numbers"),
        ));
      }
      fill_counts(pt, out);
      Ok(true)
    })
  }

  /// The costs and occupancy, or null without a page table.
  #[napi(catch_unwind)]
  pub fn page_table_info(&self) -> Result<Option<PtInfo>> {
    self.reading(|vm| Ok(vm.page_table().map(info)))
  }
}

/// What the binding reports of a page table.
pub(crate) fn info(pt: &mut PageTable) -> PtInfo {
  {
    {
      let o = pt.occupancy();
      let (total, last) = (pt.total(), pt.last_request());
      let tlb_ranges = pt
        .last_tlb_ranges()
        .iter()
        .flat_map(|&(a, r)| [BigInt::from(a), BigInt::from(r)])
        .collect();
      PtInfo {
        total: cost(total),
        last: cost(last),
        tlb_ranges,
        tables: counts(&o.tables),
        entries: counts(&o.entries),
        leaves: counts(&o.leaves),
        bytes: o.bytes as f64,
      }
    }
  }
}

/// Numbers `page_table_counts` writes: two costs of 9 (7 counts, the TLB
/// bytes' high and low 32 bits), the occupancy's bytes, then tables,
/// entries and leaves for 6 levels at most (unused ones 0), then the levels.
const COUNTS_LEN: usize = 2 * 9 + 1 + 3 * 6 + 1;

fn fill_cost(c: &Cost, out: &mut [f64]) {
  let tlb = [c.tlb_bytes >> 32, c.tlb_bytes & 0xffff_ffff];
  for (o, v) in out.iter_mut().zip(cost_counts(c).into_iter().chain(tlb)) {
    *o = v as f64;
  }
}

fn fill_counts(pt: &mut PageTable, out: &mut [f64]) {
  fill_cost(&pt.last_request(), &mut out[..9]);
  fill_cost(&pt.total(), &mut out[9..18]);
  out[19..].fill(0.0);
  let mut bytes = 0;
  for i in 0..pt.profile().levels.len() {
    let spec = pt.profile().levels[i];
    let [tables, entries, leaves] = pt.level_occupancy(i).unwrap_or_default();
    bytes += tables * (1u64 << spec.bits) * u64::from(spec.entry_bytes);
    out[19 + i] = tables as f64;
    out[25 + i] = entries as f64;
    out[31 + i] = leaves as f64;
  }
  out[18] = bytes as f64;
  out[37] = pt.profile().levels.len() as f64;
}
