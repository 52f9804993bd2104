//! The hub's vm_bo lists (extobj and evict): insertion-ordered, threaded
//! through the vm_bos themselves by id, so that appending, taking one off
//! and asking whether one is on a list are O(1) however long the list is.
//! Appending a vm_bo already on a list keeps its place, as the kernel's
//! `list_add_tail` behind a `list_empty` check does.

use super::Hub;

/// Which list: an index into `Hub::chains` and `VmBo::links`.
pub(super) const EXTOBJ: usize = 0;
pub(super) const EVICT: usize = 1;

/// A vm_bo's place on one list. Ids start at 1, so 0 is "none".
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Link {
  pub(super) on: bool,
  prev: u32,
  next: u32,
}

/// One list's ends and length.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Chain {
  head: u32,
  tail: u32,
  pub(super) len: u32,
}

impl Hub {
  fn link_of(&mut self, id: u32, which: usize) -> Option<&mut Link> {
    self.bos.get_mut(&id).map(|bo| &mut bo.links[which])
  }

  /// Appends vm_bo `id` to the list, unless it is on it already.
  pub(super) fn list_push(&mut self, which: usize, id: u32) {
    let tail = self.chains[which].tail;
    match self.link_of(id, which) {
      Some(link) if !link.on => {
        *link = Link {
          on: true,
          prev: tail,
          next: 0,
        }
      }
      _ => return,
    }
    if let Some(t) = self.link_of(tail, which) {
      t.next = id;
    }
    let chain = &mut self.chains[which];
    if chain.head == 0 {
      chain.head = id;
    }
    chain.tail = id;
    chain.len += 1;
  }

  /// Takes vm_bo `id` off the list, if it is on it.
  pub(super) fn list_remove(&mut self, which: usize, id: u32) {
    let Link { prev, next, .. } = match self.link_of(id, which) {
      Some(link) if link.on => std::mem::take(link),
      _ => return,
    };
    match self.link_of(prev, which) {
      Some(p) => p.next = next,
      None => self.chains[which].head = next,
    }
    match self.link_of(next, which) {
      Some(n) => n.prev = prev,
      None => self.chains[which].tail = prev,
    }
    self.chains[which].len -= 1;
  }

  /// The ids on the list, in list order (zombies included).
  pub(super) fn list_ids(&self, which: usize) -> impl Iterator<Item = u32> + '_ {
    let mut id = self.chains[which].head;
    std::iter::from_fn(move || {
      let bo = self.bos.get(&id)?;
      let at = id;
      id = bo.links[which].next;
      Some(at)
    })
  }
}
