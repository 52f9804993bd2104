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
mod tests {
  use crate::device::*;
  use crate::errno::Errno;

  const K: u64 = 1024;

  fn locked_validate(d: &mut Device, id: u32, p: &[Place]) -> Result<Validated> {
    let r = d.object(id).unwrap().resv;
    d.lock(0, r, None, LockMode::Normal).unwrap();
    let v = d.validate(0, id, p);
    d.unlock(0, r).unwrap();
    v
  }

  #[test]
  fn unbacked_objects_move_out_of_none_without_a_hop() {
    let mut d = Device::new(WwClass::WaitDie);
    d.create_object_unbacked(1, 8 * K, None, Profile::GemVram2024)
      .unwrap();
    assert_eq!(d.resource(1).unwrap(), None);
    assert_eq!(d.domain_stats(Domain::System).unwrap().used, 0);
    let v = locked_validate(&mut d, 1, &[Place::at(Domain::Vram, 0)]).unwrap();
    assert_eq!((v.moved, v.bytes_moved), (true, 8 * K));
    assert_eq!(d.resource(1).unwrap().unwrap().domain, Domain::Vram);
    // Now it has pages: VRAM -> SYSTEM bounces through GTT.
    let v = locked_validate(&mut d, 1, &[Place::at(Domain::System, 0)]).unwrap();
    assert_eq!(v.bytes_moved, 16 * K);
  }

  #[test]
  fn private_types_and_custom_hops() {
    let opts = ManagerOptions {
      private: vec![TypeConfig {
        name: "stage".into(),
        size: 64 * K,
        allocator: AllocKind::Buddy,
        use_tt: true,
      }],
      hops: vec![Hop {
        from: Domain::Vram,
        to: Domain::Gtt,
        via: Domain::private(0).unwrap(),
      }],
      ..ManagerOptions::default()
    };
    let mut d = Device::with_managers(WwClass::WaitDie, MemoryConfig::default(), &opts).unwrap();
    assert_eq!(d.memory_types(), 4);
    let stage = Domain::private(0).unwrap();
    assert_eq!(d.domain_stats(stage).unwrap().allocator, AllocKind::Buddy);
    d.create_object(1, 4 * K, None, Profile::GemVram2024).unwrap();
    locked_validate(&mut d, 1, &[Place::at(Domain::Vram, 0)]).unwrap();
    d.track_moves(true);
    let v = locked_validate(&mut d, 1, &[Place::at(Domain::Gtt, 0)]).unwrap();
    assert_eq!(v.bytes_moved, 8 * K);
    let to: Vec<_> = d.take_moves().iter().map(|m| m.to).collect();
    assert_eq!(to, [Some(stage), Some(Domain::Gtt)]);
    // Undeclared types have no manager: skipped, ENOMEM.
    let p = [Place::at(Domain::private(1).unwrap(), 0)];
    assert_eq!(locked_validate(&mut d, 1, &p).unwrap_err().errno, Errno::ENOMEM);
    let bad = ManagerOptions {
      hops: vec![Hop {
        from: Domain::Vram,
        to: Domain::Gtt,
        via: Domain::Gtt,
      }],
      ..ManagerOptions::default()
    };
    assert!(Device::with_managers(WwClass::WaitDie, MemoryConfig::default(), &bad).is_err());
  }
}
