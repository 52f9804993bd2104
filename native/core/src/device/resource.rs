//! An object's resource (`bo->resource`): what placement asks of it
//! (`ttm_resource_compatible`, `ttm_resource_intersects`, TEMPORARY), what
//! it reports, and objects created without one (`bo->resource == NULL`
//! until the first validate).

use super::{Device, Domain, Place, Profile, PL_TEMPORARY};
use crate::errno::Result;

/// A resource as reported: its type, the flags it carries (CONTIGUOUS when
/// one run, TEMPORARY for a bounce) and its `(offset, size)` blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
  pub domain: Domain,
  pub flags: u32,
  pub blocks: Vec<(u64, u64)>,
}

impl Device {
  /// The manager's `compatible` for the object's resource and `p` (same type assumed).
  pub(crate) fn res_compatible(&self, id: u32, p: Place) -> bool {
    let Ok(o) = self.object(id) else {
      return false;
    };
    self.mem.get(o.domain).is_some_and(|m| m.compatible(o.node, p))
  }

  /// The manager's `intersects`: whether evicting the object frees room for `p`.
  pub(crate) fn res_intersects(&self, id: u32, p: Place) -> bool {
    let Ok(o) = self.object(id) else {
      return false;
    };
    o.domain == p.domain && self.mem.get(o.domain).is_some_and(|m| m.intersects(o.node, p))
  }

  pub(crate) fn res_temporary(&self, id: u32) -> bool {
    let Ok(o) = self.object(id) else {
      return false;
    };
    !o.purged
      && self
        .mem
        .get(o.domain)
        .is_some_and(|m| m.res_flags(o.node) & PL_TEMPORARY != 0)
  }

  /// The object's resource; `None` when it has none (created without, or purged).
  pub fn resource(&self, id: u32) -> Result<Option<ResourceInfo>> {
    let o = self.object(id)?;
    if o.purged {
      return Ok(None);
    }
    let Some(m) = self.mem.get(o.domain) else {
      return Ok(None);
    };
    Ok(Some(ResourceInfo {
      domain: o.domain,
      flags: m.res_flags(o.node),
      blocks: m.blocks(o.node),
    }))
  }

  /// `create_object` without a resource: nothing allocated, on no LRU; the
  /// first validate is a move that counts its bytes.
  pub fn create_object_unbacked(
    &mut self,
    id: u32,
    size: u64,
    resv: Option<u32>,
    profile: Profile,
  ) -> Result<()> {
    self.create_object(id, size, resv, profile)?;
    let node = self.object(id)?.node;
    self.lru_remove(id);
    self.domain_free(Domain::System, node);
    let o = self.object_mut(id)?;
    o.node = None;
    o.purged = true;
    Ok(())
  }

  /// Memory types the device declares (3 plus its private ones).
  pub fn memory_types(&self) -> u32 {
    self.mem.types()
  }
}

#[cfg(test)]
mod tests;
