//! Memory types (TTM's `mem_type`): SYSTEM, GTT (TTM_PL_TT) and VRAM, then the
//! driver-private types from TTM_PL_PRIV on, up to TTM_NUM_MEM_TYPES. drmsim
//! numbers them from 1 (0 is "wherever it is" for pin), so kernel type `t` is
//! `Domain(t + 1)`.

/// A memory type. `Domain::System`, `Domain::Gtt` and `Domain::Vram` are the
/// fixed ones; `Domain::private(i)` the driver's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(u8);

/// TTM_NUM_MEM_TYPES (9 since 2025): SYSTEM, TT, VRAM and six private types.
pub const MAX_TYPES: u32 = 9;
/// TTM_PL_PRIV, in drmsim's numbering: the first driver-private type.
pub const PRIV_BASE: u32 = 4;

const NAMES: [&str; MAX_TYPES as usize] = [
  "system", "gtt", "vram", "priv0", "priv1", "priv2", "priv3", "priv4", "priv5",
];

#[allow(non_upper_case_globals)]
impl Domain {
  pub const System: Domain = Domain(1);
  pub const Gtt: Domain = Domain(2);
  pub const Vram: Domain = Domain(3);

  /// The `i`-th driver-private type (TTM_PL_PRIV + i), if TTM has room for it.
  pub fn private(i: u32) -> Option<Domain> {
    Domain::from_index(PRIV_BASE + i)
  }

  /// 1..=MAX_TYPES, else `None`.
  pub fn from_index(v: u32) -> Option<Domain> {
    (1..=MAX_TYPES).contains(&v).then_some(Domain(v as u8))
  }

  pub fn index(self) -> u32 {
    u32::from(self.0)
  }

  /// The fixed name ("system", "gtt", "vram", "privN"); devices name private types themselves.
  pub fn name(self) -> &'static str {
    NAMES
      .get((self.0 as usize).wrapping_sub(1))
      .copied()
      .unwrap_or("none")
  }
}
