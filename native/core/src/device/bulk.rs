//! LRU bulk moves (`ttm_lru_bulk_move`): the buffers of a VM that share its
//! reservation keep one contiguous range per (domain, priority) on the LRUs
//! and go to the tail together (`ttm_lru_bulk_move_tail`), in O(1) per range
//! (lru.rs keeps a range as one list entry).

use super::pressure::Bulk;
use super::Device;
use crate::errno::{fail, Errno, Result};

impl Device {
  /// A new, empty bulk move; with `resv`, unlocking that resv moves it to
  /// the tail (as amdgpu does for its per-VM buffers at submission).
  pub fn create_bulk_move(&mut self, resv: Option<u32>) -> Result<u32> {
    if let Some(r) = resv {
      self.resv(r)?;
    }
    if self.pressure.bulks.len() >= u32::MAX as usize - 1 {
      return fail(Errno::ENOMEM, "too many bulk moves");
    }
    self.pressure.bulks.push(Bulk::default());
    let id = self.pressure.bulks.len() as u32;
    if let Some(r) = resv {
      self.pressure.resv_bulks.entry(r).or_default().push(id);
    }
    Ok(id)
  }

  fn bulk_check(&self, bulk: u32) -> Result<()> {
    if bulk == 0 || bulk as usize > self.pressure.bulks.len() {
      return fail(Errno::EINVAL, format!("no bulk move with id {bulk}"));
    }
    Ok(())
  }

  /// `ttm_bo_set_bulk_move`: joins `bulk` (0 leaves it). A buffer on an LRU
  /// joins at the end of the bulk's range; one that leaves goes to the tail.
  pub fn set_bulk_move(&mut self, id: u32, bulk: u32) -> Result<()> {
    if bulk != 0 {
      self.bulk_check(bulk)?;
    }
    if self.object(id)?.pressure.bulk == bulk {
      return Ok(());
    }
    let on_lru = self.object(id)?.lru.is_some();
    self.lru_remove(id);
    self.object_mut(id)?.pressure.bulk = bulk;
    if on_lru {
      self.lru_touch(id);
    }
    Ok(())
  }

  /// `ttm_lru_bulk_move_tail`: every range of the bulk to its LRU's tail.
  pub fn bulk_move_tail(&mut self, bulk: u32) -> Result<()> {
    self.bulk_check(bulk)?;
    self.lru_bulk_tail(bulk);
    Ok(())
  }
}
