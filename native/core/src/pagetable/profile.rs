//! Driver profiles of the page-table cost model: the shape of a GPU's page
//! table (levels, entries per level, entry size, which levels may hold a
//! leaf). Level 0 holds the smallest pages; the last level is the root.

use crate::errno::{fail, Errno, Result};

/// One level of a page table. A table of this level has `1 << bits`
/// entries of `entry_bytes` each; `leaf` says whether an entry may map a
/// page of the level's size instead of pointing at a table of the level
/// below (level 0 always maps pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelSpec {
  pub bits: u8,
  pub entry_bytes: u16,
  pub leaf: bool,
}

/// A page-table shape. `page_shift` is log2 of the smallest page; level `i`
/// entries cover `1 << shift(i)` bytes of VA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
  pub name: String,
  pub page_shift: u8,
  pub levels: Vec<LevelSpec>,
}

/// The built-in profiles, by name.
pub const PROFILE_NAMES: [&str; 3] = ["xe", "panthor", "nouveau"];

const fn lvl(bits: u8, entry_bytes: u16, leaf: bool) -> LevelSpec {
  LevelSpec {
    bits,
    entry_bytes,
    leaf,
  }
}

impl Profile {
  /// Intel Xe (xe_pt.c): four levels of 512 eight-byte entries over a 48-bit
  /// VA; 4 KiB, 2 MiB and 1 GiB leaves (64 KiB compact pages not modelled).
  pub fn xe() -> Profile {
    Profile {
      name: "xe".into(),
      page_shift: 12,
      levels: vec![
        lvl(9, 8, true),
        lvl(9, 8, true),
        lvl(9, 8, true),
        lvl(9, 8, false),
      ],
    }
  }

  /// Arm Mali through panthor (io-pgtable-arm, LPAE stage 1, 4 KiB granule):
  /// four levels of 512 eight-byte entries over a 48-bit VA; panthor hands
  /// io-pgtable 4 KiB and 2 MiB pages only.
  pub fn panthor() -> Profile {
    Profile {
      name: "panthor".into(),
      page_shift: 12,
      levels: vec![
        lvl(9, 8, true),
        lvl(9, 8, true),
        lvl(9, 8, false),
        lvl(9, 8, false),
      ],
    }
  }

  /// NVIDIA Pascal-and-later through nouveau/NVK (nvkm's gp100 layout, small
  /// pages): a 512-entry PT, a 256-entry PD0 of 16-byte dual entries that may
  /// map 2 MiB, PD1 and PD2 of 512 entries, a 4-entry PD3 root: 49-bit VA.
  pub fn nouveau() -> Profile {
    Profile {
      name: "nouveau".into(),
      page_shift: 12,
      levels: vec![
        lvl(9, 8, true),
        lvl(8, 16, true),
        lvl(9, 8, false),
        lvl(9, 8, false),
        lvl(2, 8, false),
      ],
    }
  }

  pub fn by_name(name: &str) -> Option<Profile> {
    match name {
      "xe" => Some(Profile::xe()),
      "panthor" => Some(Profile::panthor()),
      "nouveau" => Some(Profile::nouveau()),
      _ => None,
    }
  }

  /// log2 of the VA one entry of `level` covers (`level == levels.len()`
  /// gives the whole VA).
  pub fn shift(&self, level: usize) -> u32 {
    u32::from(self.page_shift)
      + self.levels[..level]
        .iter()
        .map(|l| u32::from(l.bits))
        .sum::<u32>()
  }

  /// How many VA bits the root covers.
  pub fn va_bits(&self) -> u32 {
    self.shift(self.levels.len())
  }

  /// EINVAL for a shape the model cannot hold: 2 to 6 levels of 1 to 12
  /// bits, entries of 1 to 64 bytes (a power of two), pages of 4 KiB to
  /// 64 KiB, level 0 a leaf level, at most 63 VA bits.
  pub fn validate(&self) -> Result<()> {
    let bad = |what: String| {
      fail(
        Errno::EINVAL,
        format!("page-table profile '{}': {what}", self.name),
      )
    };
    if !(2..=6).contains(&self.levels.len()) {
      return bad(format!("{} levels (2 to 6 allowed)", self.levels.len()));
    }
    if !(12..=16).contains(&self.page_shift) {
      return bad(format!("page shift {} (12 to 16 allowed)", self.page_shift));
    }
    for (i, l) in self.levels.iter().enumerate() {
      if !(1..=12).contains(&l.bits) {
        return bad(format!("level {i} has {} index bits (1 to 12 allowed)", l.bits));
      }
      if !l.entry_bytes.is_power_of_two() || l.entry_bytes > 64 {
        return bad(format!(
          "level {i} entries of {} bytes (a power of two up to 64)",
          l.entry_bytes
        ));
      }
    }
    if !self.levels[0].leaf {
      return bad("level 0 must map pages".into());
    }
    if self.va_bits() > 63 {
      return bad(format!("{} VA bits (at most 63)", self.va_bits()));
    }
    Ok(())
  }
}
