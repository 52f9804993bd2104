//! The LRUs of each domain (TTM resource manager): one list per priority
//! (`TTM_MAX_BO_PRIORITY` = 4), walked from priority 0 up, each from its head.
//! A buffer goes to the tail of its priority's list when it gets a new
//! resource and when its reservation is unlocked (`ttm_bo_unreserve`);
//! pinned, purged and swapped buffers are off every LRU.
//!
//! A bulk move (`ttm_lru_bulk_move`, bulk.rs) keeps its buffers of one
//! (domain, priority) as one contiguous range: here a single list entry that
//! holds the range, so moving the whole range to the tail is one re-key.
//! Touching a buffer of a bulk moves it to the end of its range, not to the
//! list's tail, as `ttm_lru_bulk_move_pos_tail` does.

use super::seqlist::SeqList;
use super::{Device, Domain};

pub const MAX_PRIORITY: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
  Obj(u32),
  /// The range of a bulk move (its id).
  Bulk(u32),
}

/// One domain's LRUs: `seq -> entry` per priority, least recently used
/// first. Every new position is the highest seq yet, so each list only
/// grows at its tail (seqlist.rs).
#[derive(Default)]
pub(crate) struct Lru {
  lists: [SeqList<Entry>; MAX_PRIORITY],
  /// Buffers per priority, bulk members included.
  lens: [usize; MAX_PRIORITY],
}

impl Lru {
  pub fn len(&self) -> usize {
    self.lens.iter().sum()
  }

  pub fn lens(&self) -> [usize; MAX_PRIORITY] {
    self.lens
  }

  /// The lists, plus a bulk range's members counted per buffer (a buffer
  /// in a range has no entry of its own in the list).
  pub fn heap_bytes(&self) -> usize {
    let entries: usize = self.lists.iter().map(SeqList::len).sum();
    let members = self.len().saturating_sub(entries);
    self.lists.iter().map(SeqList::heap_bytes).sum::<usize>() + members * size_of::<(u64, Option<u32>)>()
  }
}

/// A bulk move's range in one (domain, priority): its key in the list and
/// its buffers in order.
#[derive(Default)]
pub(crate) struct BulkPos {
  pub seq: u64,
  pub members: SeqList<u32>,
}

/// Where an LRU walk is: the priority, the next key of that list, and inside
/// a bulk range the range's key and the next member key.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cursor {
  prio: usize,
  next: u64,
  inner: Option<(u32, u64, u64)>,
}

impl Device {
  /// Moves the object to the tail of its LRU (or of its bulk range), if it belongs there.
  pub(crate) fn lru_touch(&mut self, id: u32) {
    self.lru_remove(id);
    // Disjoint fields: the record, its domain's lists and the bulk ranges at once.
    let Some(o) = self.objects.get_mut(id) else {
      return;
    };
    if o.freed || o.pin_count > 0 || o.purged || o.pressure.swapped {
      return;
    }
    let (d, prio, bulk) = (o.domain, o.pressure.priority as usize, o.pressure.bulk);
    let Some(m) = self.mem.get_mut(d) else {
      return;
    };
    self.lru_seq += 1;
    let seq = self.lru_seq;
    if bulk == 0 {
      m.lru.lists[prio].push(seq, Entry::Obj(id));
    } else if let Some(b) = self.pressure.bulks.get_mut(bulk as usize - 1) {
      let di = d.index() as usize - 1;
      let pos = b.pos[di][prio].get_or_insert_with(|| {
        m.lru.lists[prio].push(seq, Entry::Bulk(bulk));
        BulkPos {
          seq,
          members: SeqList::default(),
        }
      });
      pos.members.push(seq, id);
    }
    m.lru.lens[prio] += 1;
    o.lru = Some(seq);
    o.pressure.lru_at = (prio as u8, bulk);
  }

  pub(crate) fn lru_remove(&mut self, id: u32) {
    let Some(o) = self.objects.get_mut(id) else {
      return;
    };
    let Some(seq) = o.lru.take() else {
      return;
    };
    let (d, (prio, bulk)) = (o.domain, o.pressure.lru_at);
    let (di, prio) = (d.index() as usize - 1, prio as usize);
    let mut emptied = None;
    if let Some(b) = bulk
      .checked_sub(1)
      .and_then(|i| self.pressure.bulks.get_mut(i as usize))
    {
      if let Some(pos) = &mut b.pos[di][prio] {
        pos.members.remove(seq);
        if pos.members.is_empty() {
          emptied = Some(pos.seq);
          b.pos[di][prio] = None;
        }
      }
    }
    if let Some(m) = self.mem.get_mut(d) {
      if bulk == 0 {
        m.lru.lists[prio].remove(seq);
      } else if let Some(s) = emptied {
        m.lru.lists[prio].remove(s);
      }
      m.lru.lens[prio] -= 1;
    }
  }

  /// `ttm_lru_bulk_move_tail`: each range of the bulk to its list's tail.
  pub(crate) fn lru_bulk_tail(&mut self, bulk: u32) {
    let Some(b) = bulk
      .checked_sub(1)
      .and_then(|i| self.pressure.bulks.get_mut(i as usize))
    else {
      return;
    };
    for (di, per_prio) in b.pos.iter_mut().enumerate() {
      for (prio, pos) in per_prio.iter_mut().enumerate() {
        let Some(pos) = pos else { continue };
        let Some(m) = Domain::from_index(di as u32 + 1).and_then(|d| self.mem.get_mut(d)) else {
          continue;
        };
        self.lru_seq += 1;
        m.lru.lists[prio].remove(pos.seq);
        pos.seq = self.lru_seq;
        m.lru.lists[prio].push(pos.seq, Entry::Bulk(bulk));
      }
    }
  }

  /// The next buffer of a walk of `d`'s LRUs, priority 0 first, skipping
  /// what joined after `last` (evicted buffers that come back).
  pub(crate) fn lru_next(&self, d: Domain, cur: &mut Cursor, last: u64) -> Option<u32> {
    let m = self.mem.get(d)?;
    let di = d.index() as usize - 1;
    while cur.prio < MAX_PRIORITY {
      if let Some((bulk, key, from)) = cur.inner.take() {
        let pos = self
          .pressure
          .bulks
          .get(bulk as usize - 1)
          .and_then(|b| b.pos[di][cur.prio].as_ref());
        if let Some(pos) = pos.filter(|p| p.seq == key) {
          if let Some((s, id)) = pos.members.first_from(from).filter(|&(s, _)| s <= last) {
            cur.inner = Some((bulk, key, s + 1));
            return Some(id);
          }
        }
      }
      match m.lru.lists[cur.prio].first_from(cur.next) {
        Some((s, e)) if s <= last => {
          cur.next = s + 1;
          match e {
            Entry::Obj(id) => return Some(id),
            Entry::Bulk(b) => cur.inner = Some((b, s, 0)),
          }
        }
        _ => {
          cur.prio += 1;
          cur.next = 0;
        }
      }
    }
    None
  }

  /// Unlocking a reservation bumps every buffer that uses it, in id order,
  /// then moves the bulk moves tied to it to the tail.
  pub(crate) fn lru_unreserve(&mut self, resv: u32) {
    let ri = (resv as usize).wrapping_sub(1);
    let mut i = 0;
    while let Some(&id) = self.resv_users.get(ri).and_then(|v| v.get(i)) {
      self.lru_touch(id);
      i += 1;
    }
    if self.pressure.resv_bulks.is_empty() {
      return;
    }
    let n = self.pressure.resv_bulks.get(&resv).map_or(0, Vec::len);
    for i in 0..n {
      let Some(&b) = self.pressure.resv_bulks.get(&resv).and_then(|v| v.get(i)) else {
        break;
      };
      self.lru_bulk_tail(b);
    }
  }

  /// Users of each resv (index `resv - 1`), in id order.
  pub(crate) fn resv_user_add(&mut self, resv: u32, id: u32) {
    let ri = resv as usize - 1;
    if self.resv_users.len() <= ri {
      self.resv_users.resize_with(ri + 1, Vec::new);
    }
    let v = &mut self.resv_users[ri];
    if let Err(i) = v.binary_search(&id) {
      v.insert(i, id);
    }
  }

  pub(crate) fn resv_user_remove(&mut self, resv: u32, id: u32) {
    if let Some(v) = self.resv_users.get_mut((resv as usize).wrapping_sub(1)) {
      if let Ok(i) = v.binary_search(&id) {
        v.remove(i);
      }
    }
  }

  /// The buffers on a domain's LRUs in eviction order: priority 0 first,
  /// each list least recently used first.
  pub fn lru(&self, d: Domain) -> Vec<u32> {
    let mut out = Vec::new();
    let mut cur = Cursor::default();
    while let Some(id) = self.lru_next(d, &mut cur, u64::MAX) {
      out.push(id);
    }
    out
  }

  /// Buffers on each priority's LRU of a domain (empty if it has no manager).
  pub fn lru_lengths(&self, d: Domain) -> [usize; MAX_PRIORITY] {
    self.mem.get(d).map_or([0; MAX_PRIORITY], |m| m.lru.lens())
  }
}
