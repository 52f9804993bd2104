//! The 64-bit LCG of the benchmarks (bench/run.mjs's placement loop): one
//! stable, seedable sequence for the examples and the randomized unit tests.

/// Knuth's MMIX multiplier and increment; `below` takes the high bits.
#[derive(Clone, Debug)]
pub struct Lcg(pub u64);

impl Lcg {
  /// The next value in `0..n` (0 when `n` is 0).
  pub fn below(&mut self, n: u64) -> u64 {
    self.0 = self
      .0
      .wrapping_mul(6364136223846793005)
      .wrapping_add(1442695040888963407);
    (self.0 >> 33) % n.max(1)
  }

  /// True one time in `n`.
  pub fn one_in(&mut self, n: u64) -> bool {
    self.below(n) == 0
  }
}
