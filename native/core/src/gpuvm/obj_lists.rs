//! Each GEM object's list of the mappings linked to it, in link order
//! (`drm_gpuva_link` / `drm_gpuva_unlink`).
//!
//! The lists are built when first asked for. Until then a linked record only
//! holds a stamp from a clock, so linking and unlinking touch nothing but the
//! record itself: a bind/unbind workload that never reads a list (most
//! replays) pays nothing for them, and the order is still known, because
//! link order is stamp order. Once built (`track`), the lists are kept
//! entry by entry, as the kernel keeps them.
//!
//! Records move inside the store, so an entry names its mapping by key and
//! the record keeps its entry's id. The links of all entries live in one
//! array, 8 bytes an entry, apart from the keys: unlinking touches the
//! neighbours' links there, a small array that stays in cache.

use super::{ObjId, VaKey};
use rustc_hash::FxHashMap as HashMap;

pub(crate) const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct List {
  head: u32,
  tail: u32,
  len: u32,
}

/// An entry's neighbours in its list.
#[derive(Clone, Copy)]
struct Links {
  prev: u32,
  next: u32,
}

#[derive(Clone)]
pub(crate) struct ObjLists {
  /// Whether the lists below are built and kept; until then records hold stamps.
  tracked: bool,
  /// The next stamp to hand out.
  clock: u32,
  /// Stamps run from 0 to below this (`NIL` but in tests).
  stamp_limit: u32,
  lists: HashMap<ObjId, List>,
  links: Vec<Links>,
  keys: Vec<VaKey>,
  free: Vec<u32>,
}

impl Default for ObjLists {
  fn default() -> ObjLists {
    ObjLists {
      tracked: false,
      clock: 0,
      stamp_limit: NIL,
      lists: HashMap::default(),
      links: Vec::new(),
      keys: Vec::new(),
      free: Vec::new(),
    }
  }
}

impl ObjLists {
  pub fn is_tracked(&self) -> bool {
    self.tracked
  }

  /// A stamp for a record being linked while the lists are not built; `None`
  /// once they are, or when the clock has run out (build them then).
  #[inline]
  pub fn stamp(&mut self) -> Option<u32> {
    if self.tracked || self.clock >= self.stamp_limit {
      return None;
    }
    self.clock += 1;
    Some(self.clock - 1)
  }

  /// From now on the lists are kept; the caller links every linked record,
  /// in stamp order.
  pub fn track(&mut self) {
    self.tracked = true;
  }

  /// Whether `n` more stamps can be handed out before the lists must be built.
  pub fn stamps_left(&self, n: u64) -> bool {
    self.tracked || u64::from(self.clock) + n <= u64::from(self.stamp_limit)
  }

  #[cfg(test)]
  pub fn set_stamp_limit(&mut self, limit: u32) {
    self.stamp_limit = limit;
  }

  /// Appends the mapping `key` to `obj`'s list (once tracked); returns its entry's id.
  pub fn link(&mut self, obj: ObjId, key: VaKey) -> u32 {
    let list = self.lists.entry(obj).or_insert(List {
      head: NIL,
      tail: NIL,
      len: 0,
    });
    let links = Links {
      prev: list.tail,
      next: NIL,
    };
    let id = match self.free.pop() {
      Some(id) => {
        self.links[id as usize] = links;
        self.keys[id as usize] = key;
        id
      }
      None => {
        self.links.push(links);
        self.keys.push(key);
        (self.keys.len() - 1) as u32
      }
    };
    match list.tail {
      NIL => list.head = id,
      t => self.links[t as usize].next = id,
    }
    list.tail = id;
    list.len += 1;
    id
  }

  /// Takes entry `id` (a stamp while the lists are not built) out of `obj`'s list.
  #[inline]
  pub fn unlink(&mut self, obj: ObjId, id: u32) {
    if self.tracked {
      self.unlink_entry(obj, id);
    }
  }

  fn unlink_entry(&mut self, obj: ObjId, id: u32) {
    let Links { prev, next } = self.links[id as usize];
    if prev != NIL {
      self.links[prev as usize].next = next;
    }
    if next != NIL {
      self.links[next as usize].prev = prev;
    }
    if let Some(list) = self.lists.get_mut(&obj) {
      if list.head == id {
        list.head = next;
      }
      if list.tail == id {
        list.tail = prev;
      }
      list.len -= 1;
      if list.len == 0 {
        self.lists.remove(&obj);
      }
    }
    self.free.push(id);
  }

  /// The keys of the mappings linked to `obj`, in link order (once tracked).
  pub fn keys(&self, obj: ObjId) -> impl Iterator<Item = VaKey> + '_ {
    let mut id = self.lists.get(&obj).map_or(NIL, |l| l.head);
    std::iter::from_fn(move || {
      let key = *self.keys.get(id as usize)?;
      id = self.links[id as usize].next;
      Some(key)
    })
  }

  pub fn heap_bytes(&self) -> usize {
    self.lists.capacity() * size_of::<(ObjId, List)>()
      + self.links.capacity() * size_of::<Links>()
      + self.free.capacity() * 4
      + self.keys.capacity() * size_of::<VaKey>()
  }
}
