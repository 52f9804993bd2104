//! The device binding's resource managers (ttm-res): the layout a device is
//! made with (allocators, private memory types, multihop rules), objects
//! created without a resource, and an object's resource. Converts and
//! forwards to `drmsim_core::device`, like device.rs.

use crate::convert::{einval, to_js, u64_arg, Result};
use crate::device::NativeDevice;
use crate::external::Reported;
use drmsim_core::device::{AllocKind, Domain, Hop, ManagerOptions, Profile, TypeConfig};
use napi::bindgen_prelude::{BigInt, Env};
use napi_derive::napi;

#[napi(object)]
pub struct PrivateTypeRecord {
  pub name: String,
  pub size: BigInt,
  /// 0 drm_mm, 1 buddy.
  pub allocator: u32,
  pub use_tt: bool,
}

#[napi(object)]
pub struct LayoutRecord {
  /// 0 drm_mm, 1 buddy (the default).
  pub vram_allocator: Option<u32>,
  /// 0 drm_mm (the default), 1 buddy.
  pub gtt_allocator: Option<u32>,
  pub private: Option<Vec<PrivateTypeRecord>>,
  /// Multihop rules as `from, to, via` triples of memory types; absent: amdgpu's.
  pub hops: Option<Vec<u32>>,
}

#[napi(object)]
pub struct ResourceRecord {
  pub domain: u32,
  /// CONTIGUOUS (1) when one run, TEMPORARY (4) for a bounce.
  pub flags: u32,
  /// `offset, size` pairs in address order.
  pub blocks: Vec<BigInt>,
}

fn alloc_kind(v: u32, what: &str) -> Result<AllocKind> {
  match v {
    0 => Ok(AllocKind::Mm),
    1 => Ok(AllocKind::Buddy),
    _ => Err(einval(format!("{what} must be 0 (drm_mm) or 1 (buddy), got {v}"))),
  }
}

fn mem_type(v: u32) -> Result<Domain> {
  Domain::from_index(v).ok_or_else(|| einval(format!("a memory type must be 1..9, got {v}")))
}

/// The core's manager options from the binding's layout (defaults where absent).
pub(crate) fn manager_options(layout: Option<LayoutRecord>) -> Result<ManagerOptions> {
  let mut o = ManagerOptions::default();
  let Some(l) = layout else {
    return Ok(o);
  };
  if let Some(v) = l.vram_allocator {
    o.vram = alloc_kind(v, "the VRAM allocator")?;
  }
  if let Some(v) = l.gtt_allocator {
    o.gtt = alloc_kind(v, "the GTT allocator")?;
  }
  for t in l.private.unwrap_or_default() {
    o.private.push(TypeConfig {
      size: u64_arg(&t.size, "size")?,
      allocator: alloc_kind(t.allocator, "a private type's allocator")?,
      use_tt: t.use_tt,
      name: t.name,
    });
  }
  if let Some(h) = l.hops {
    if !h.len().is_multiple_of(3) {
      return Err(einval(format!(
        "hops are from, to, via triples, got {} numbers",
        h.len()
      )));
    }
    o.hops = h
      .chunks_exact(3)
      .map(|c| {
        Ok(Hop {
          from: mem_type(c[0])?,
          to: mem_type(c[1])?,
          via: mem_type(c[2])?,
        })
      })
      .collect::<Result<_>>()?;
  }
  Ok(o)
}

#[napi]
impl NativeDevice {
  /// `create_object` without a resource (`bo->resource == NULL` until validated).
  #[napi(catch_unwind)]
  pub fn create_object_unbacked(
    &mut self,
    env: Env,
    id: u32,
    size: BigInt,
    resv: u32,
    profile: u32,
  ) -> Result<()> {
    self.changing(&env, |this| {
      let size = u64_arg(&size, "size")?;
      let p = Profile::from_u32(profile).map_err(to_js)?;
      let resv = if resv == 0 { None } else { Some(resv) };
      this.dev.create_object_unbacked(id, size, resv, p).map_err(to_js)
    })
  }

  /// The object's resource; null when it has none.
  #[napi(catch_unwind)]
  pub fn resource_info(&self, id: u32) -> Result<Option<ResourceRecord>> {
    let r = self.dev.resource(id).map_err(to_js)?;
    Ok(r.map(|r| {
      ResourceRecord {
        domain: r.domain.index(),
        flags: r.flags,
        blocks: r
          .blocks
          .iter()
          .flat_map(|&(o, s)| [BigInt::from(o), BigInt::from(s)])
          .collect(),
      }
    }))
  }
}
