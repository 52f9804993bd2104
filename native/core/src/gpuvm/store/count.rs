//! Counting the sorted words below a key: the search inside a node.
//!
//! A node's keys are sorted and its unused words hold `PAD`, so the index a
//! search wants is simply how many words are below the key. A binary search
//! finds it in log2(N) steps, each waiting for the load before it; comparing
//! every word at once with vector instructions issues all the loads together
//! and leaves one short chain (load, compare, population count). On a random
//! leaf, whose lines come from the L2 or L3, that chain is what a request
//! waits for, at every level of the descent. The vector form is chosen at
//! run time (the binary is built for baseline x86-64) on CPUs with AVX-512,
//! whose unsigned 64-bit compare takes eight words at once; other machines
//! keep the binary search (an AVX2 form, which compares signed words four at
//! a time, measured no faster than it). Both give the same count.

/// How many of the `N` sorted words are below `x` (`N` a power of two).
#[inline]
pub(super) fn count_below<const N: usize>(a: &[u64; N], x: u64) -> usize {
  #[cfg(target_arch = "x86_64")]
  {
    if N.is_multiple_of(8) && std::arch::is_x86_feature_detected!("avx512f") {
      // SAFETY: the CPU has AVX-512F (checked just above).
      return unsafe { x86::count_avx512(a, x) };
    }
  }
  count_below_scalar(a, x)
}

/// The binary search: log2(N) steps that compile to conditional moves (a
/// mispredicted branch per step would cost more than the whole search).
#[inline]
pub(super) fn count_below_scalar<const N: usize>(a: &[u64; N], x: u64) -> usize {
  const { assert!(N.is_power_of_two()) };
  let (mut i, mut step) = (0, N / 2);
  while step > 0 {
    if a[(i + step - 1) & (N - 1)] < x {
      i += step;
    }
    step /= 2;
  }
  // The steps reach N - 1 at most; the last word decides N.
  i + usize::from(a[i & (N - 1)] < x)
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
  use std::arch::x86_64::{__m512i, _mm512_cmplt_epu64_mask, _mm512_loadu_si512, _mm512_set1_epi64};

  /// Eight words per compare.
  ///
  /// # Safety
  /// The CPU must support AVX-512F.
  #[target_feature(enable = "avx512f,popcnt")]
  pub(in super::super) unsafe fn count_avx512<const N: usize>(a: &[u64; N], x: u64) -> usize {
    let key = _mm512_set1_epi64(x as i64);
    let p = a.as_ptr();
    let mut below = 0u32;
    for c in 0..N / 8 {
      // SAFETY: words 8c..8c+8 lie inside `a` (N is a multiple of 8); the
      // load has no alignment requirement.
      let words = unsafe { _mm512_loadu_si512(p.add(8 * c).cast::<__m512i>()) };
      below += _mm512_cmplt_epu64_mask(words, key).count_ones();
    }
    below as usize
  }
}
