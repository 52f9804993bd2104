//! Test support: every invariant of the tree, checked.

use super::node::{FAN_MIN, PAD};
use super::{Store, NIL};

impl Store {
  /// Checks every invariant of the tree; panics on the first broken one.
  pub fn check(&self) {
    let mut keys = Vec::new();
    let mut l = self.head;
    let mut prev = NIL;
    while l != NIL {
      let leaf = self.leaf(l);
      assert_eq!(leaf.prev, prev, "leaf links");
      keys.extend((0..leaf.len as usize).map(|i| leaf.key(i)));
      prev = l;
      l = leaf.next;
    }
    assert_eq!(prev, self.tail, "tail");
    assert_eq!(keys.len(), self.len, "len");
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "key order");
    if self.root != NIL {
      self.check_node(self.root, self.height, None, None);
    }
  }

  fn check_node(&self, n: u32, height: usize, lo: Option<(u64, u64)>, hi: Option<(u64, u64)>) {
    let root = n == self.root;
    if height == 0 {
      let leaf = self.leaf(n);
      assert!(root || leaf.len != 0, "empty leaf");
      assert!(
        leaf.addrs[leaf.len as usize..].iter().all(|&a| a == PAD),
        "leaf padding"
      );
      for i in 0..leaf.len as usize {
        assert!(lo.is_none_or(|lo| leaf.key(i) >= lo), "key below its separator");
        assert!(
          hi.is_none_or(|hi| leaf.key(i) < hi),
          "key above the next separator"
        );
      }
      return;
    }
    let inner = &self.inners[n as usize];
    let len = inner.len as usize;
    assert_eq!(inner.sep_addr[0], 0, "separator word 0");
    assert!(
      inner.sep_addr[len..].iter().all(|&a| a == PAD),
      "separator padding"
    );
    assert!(
      if root { len >= 2 } else { len >= FAN_MIN },
      "underfull inner node"
    );
    for c in 0..len {
      let clo = if c == 0 { lo } else { Some(inner.sep(c)) };
      let chi = if c + 1 == len { hi } else { Some(inner.sep(c + 1)) };
      self.check_node(inner.child[c], height - 1, clo, chi);
    }
  }

  pub fn keys(&self) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut p = self.first();
    while !p.is_nil() {
      out.push(self.key(p));
      p = self.next(p);
    }
    out
  }
}
