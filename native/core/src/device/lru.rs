//! The LRU of each domain: a buffer goes to the tail when it gets a new
//! resource and when its reservation is unlocked (`ttm_bo_unreserve`);
//! pinned and purged buffers are off every LRU. Eviction walks from the head.

use super::{Device, Domain};

impl Device {
  /// Moves the object to the tail of its domain's LRU, if it belongs there.
  pub(crate) fn lru_touch(&mut self, id: u32) {
    self.lru_remove(id);
    let Some(o) = self.objects.get(&id) else {
      return;
    };
    if o.freed || o.pin_count > 0 || o.purged {
      return;
    }
    let d = o.domain;
    self.lru_seq += 1;
    let seq = self.lru_seq;
    if let Some(m) = self.mem.get_mut(d) {
      m.lru.insert(seq, id);
      if let Some(o) = self.objects.get_mut(&id) {
        o.lru = Some(seq);
      }
    }
  }

  pub(crate) fn lru_remove(&mut self, id: u32) {
    let Some(o) = self.objects.get_mut(&id) else {
      return;
    };
    let (d, seq) = (o.domain, o.lru.take());
    if let (Some(seq), Some(m)) = (seq, self.mem.get_mut(d)) {
      m.lru.remove(&seq);
    }
  }

  /// Unlocking a reservation bumps every buffer that uses it, in id order.
  pub(crate) fn lru_unreserve(&mut self, resv: u32) {
    let n = self.resv_users.get(&resv).map_or(0, Vec::len);
    for i in 0..n {
      let Some(&id) = self.resv_users.get(&resv).and_then(|v| v.get(i)) else {
        break;
      };
      self.lru_touch(id);
    }
  }

  pub(crate) fn resv_user_add(&mut self, resv: u32, id: u32) {
    let v = self.resv_users.entry(resv).or_default();
    if let Err(i) = v.binary_search(&id) {
      v.insert(i, id);
    }
  }

  pub(crate) fn resv_user_remove(&mut self, resv: u32, id: u32) {
    if let Some(v) = self.resv_users.get_mut(&resv) {
      if let Ok(i) = v.binary_search(&id) {
        v.remove(i);
      }
    }
  }

  /// The buffers on a domain's LRU, least recently used first.
  pub fn lru(&self, d: Domain) -> Vec<u32> {
    self
      .mem
      .get(d)
      .map_or_else(Vec::new, |m| m.lru.values().copied().collect())
  }
}
