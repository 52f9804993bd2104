//! Multihop moves: when the device says the copy path cannot go straight
//! from one type to another (amdgpu answers -EMULTIHOP for VRAM <-> SYSTEM
//! once the buffer has pages), TTM first moves the buffer to a TEMPORARY
//! place in the hop's type (`ttm_bo_bounce_temp_buffer`), then on to the
//! final resource, which it holds meanwhile. Every hop counts its bytes.

use super::super::{Device, Domain, Place, Validated, PL_TEMPORARY};
use crate::errno::{fail, Errno, Result};

impl Device {
  /// The type a move `from -> to` must bounce through, if any: a rule of the
  /// device, a buffer with pages, and a manager for the hop (drmsim moves
  /// straight when the device has none).
  pub(crate) fn hop_for(&self, id: u32, to: Domain) -> Result<Option<Domain>> {
    let o = self.object(id)?;
    if o.purged || !o.populated {
      return Ok(None);
    }
    let from = o.domain;
    let via = self
      .mem
      .hops
      .iter()
      .find(|h| h.from == from && h.to == to)
      .map(|h| h.via);
    Ok(via.filter(|&v| self.mem.get(v).is_some()))
  }

  /// `ttm_bo_handle_move_mem` with the -EMULTIHOP bounce: the buffer goes to
  /// `node` in `to`, through a temporary resource when a hop is needed.
  /// A hop that finds no room frees `node` and fails (ENOSPC when evicting,
  /// else ENOMEM).
  #[allow(clippy::too_many_arguments)]
  pub(super) fn move_hops(
    &mut self,
    thread: u32,
    id: u32,
    to: Domain,
    node: Option<u64>,
    evicted: bool,
    depth: u32,
    st: &mut Validated,
  ) -> Result<()> {
    if let Some(via) = self.hop_for(id, to)? {
      let hop = [Place::at(via, PL_TEMPORARY)];
      let mut got = None;
      for evicting in [false, true] {
        match self.alloc_resource(thread, id, &hop, evicting, depth, st) {
          Err(e) if e.errno == Errno::ENOSPC => continue,
          r => {
            got = Some(r);
            break;
          }
        }
      }
      match got {
        Some(Ok((d, tmp))) => {
          self.commit_move(id, d, tmp, evicted, st)?;
          if evicted {
            // One eviction however many hops it takes; each hop is a move.
            st.evictions -= 1;
            self.totals.evictions -= 1;
          }
        }
        Some(Err(e)) => {
          self.domain_free(to, node);
          return Err(e);
        }
        None => {
          self.domain_free(to, node);
          if evicted {
            // evict's caller, the walk, skips the victim: no message needed.
            return super::unseen(Errno::ENOSPC);
          }
          return fail(
            Errno::ENOMEM,
            format!("no room in {} to bounce GEM object {id} through", via.name()),
          );
        }
      }
    }
    self.commit_move(id, to, node, evicted, st)
  }
}
