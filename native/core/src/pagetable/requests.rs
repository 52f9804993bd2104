//! Per-request page-table costs over a run (`drmsim vmbind --cost`): the
//! worst request and how the PTE writes spread over the requests, exactly
//! (each distinct count and how many requests wrote it), so that any
//! percentile or histogram can be drawn from it. lib/reference/pagetable/
//! requests.ts keeps the same.

use super::Cost;
use std::collections::BTreeMap;

/// Counts below this are tallied in a flat array; larger ones (rare: big
/// unmaps, splits) in a map.
const DENSE: usize = 1024;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCosts {
  /// The request with the most PTE writes (the first of equals): its index
  /// and its cost.
  pub worst: Option<(u64, Cost)>,
  dense: Vec<u64>,
  sparse: BTreeMap<u64, u64>,
}

impl RequestCosts {
  /// Adds request `index` that cost `c`.
  pub fn record(&mut self, index: u64, c: &Cost) {
    let n = c.pte_writes;
    if self.worst.is_none_or(|(_, w)| n > w.pte_writes) {
      self.worst = Some((index, *c));
    }
    if n < DENSE as u64 {
      if self.dense.is_empty() {
        self.dense = vec![0; DENSE];
      }
      self.dense[n as usize] += 1;
    } else {
      *self.sparse.entry(n).or_insert(0) += 1;
    }
  }

  /// `(PTE writes, requests that wrote that many)`, by increasing writes.
  pub fn pte_spread(&self) -> Vec<(u64, u64)> {
    let dense = self
      .dense
      .iter()
      .enumerate()
      .filter(|&(_, &k)| k > 0)
      .map(|(n, &k)| (n as u64, k));
    dense.chain(self.sparse.iter().map(|(&n, &k)| (n, k))).collect()
  }
}

#[cfg(test)]
mod tests;
