//! The block tree: nodes in a slab, each block free, allocated or split into
//! two buddies; free blocks listed per clear state and order by offset; split
//! on demand (the halves inherit the cleared state) and merged back upwards
//! when both buddies are free and equally clear (or always, when forced; the
//! merged block is then dirty).

use super::{Block, Buddy};

pub(super) const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
  Free,
  Allocated,
  Split,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Node {
  pub(super) offset: u64,
  pub(super) order: u32,
  pub(super) state: State,
  pub(super) parent: u32,
  pub(super) left: u32,
  pub(super) right: u32,
  /// `DRM_BUDDY_HEADER_CLEAR`: known to hold zeroes (never set on a split block).
  pub(super) clear: bool,
}

/// The free tree of a block: 0 cleared, 1 dirty (the kernel's order).
pub(super) fn tree(clear: bool) -> usize {
  usize::from(!clear)
}

impl Buddy {
  pub(super) fn new_node(&mut self, parent: u32, order: u32, offset: u64) -> u32 {
    let n = Node {
      offset,
      order,
      state: State::Free,
      parent,
      left: NIL,
      right: NIL,
      clear: false,
    };
    match self.free_slots.pop() {
      Some(id) => {
        self.nodes[id as usize] = n;
        id
      }
      None => {
        self.nodes.push(n);
        (self.nodes.len() - 1) as u32
      }
    }
  }

  pub(super) fn block_size(&self, id: u32) -> u64 {
    self.chunk << self.nodes[id as usize].order
  }

  pub(super) fn block(&self, id: u32) -> Block {
    let n = &self.nodes[id as usize];
    Block {
      offset: n.offset,
      order: n.order,
      size: self.chunk << n.order,
      clear: n.clear,
    }
  }

  pub(super) fn mark_free(&mut self, id: u32) {
    let n = &mut self.nodes[id as usize];
    n.state = State::Free;
    self.index.list(tree(n.clear), n.order, n.offset, id);
  }

  pub(super) fn unlist(&mut self, id: u32) {
    let n = self.nodes[id as usize];
    if n.state == State::Free {
      self.index.unlist(tree(n.clear), n.order, n.offset);
    }
  }

  pub(super) fn mark_allocated(&mut self, id: u32) {
    self.unlist(id);
    let n = &mut self.nodes[id as usize];
    n.state = State::Allocated;
    self.index.add_allocated(n.offset, id);
    self.avail -= self.chunk << n.order;
    if n.clear {
      self.clear_avail -= self.chunk << n.order;
    }
  }

  pub(super) fn split(&mut self, id: u32) {
    let Node {
      offset, order, clear, ..
    } = self.nodes[id as usize];
    self.unlist(id);
    let left = self.new_node(id, order - 1, offset);
    let right = self.new_node(id, order - 1, offset + (self.chunk << (order - 1)));
    self.nodes[left as usize].clear = clear;
    self.nodes[right as usize].clear = clear;
    self.mark_free(left);
    self.mark_free(right);
    let n = &mut self.nodes[id as usize];
    n.state = State::Split;
    n.clear = false;
    n.left = left;
    n.right = right;
  }

  /// Frees an allocated block (keeping its cleared state) and merges it upwards.
  pub(super) fn release(&mut self, id: u32) {
    let offset = self.nodes[id as usize].offset;
    self.index.remove_allocated(offset);
    self.avail += self.block_size(id);
    if self.nodes[id as usize].clear {
      self.clear_avail += self.block_size(id);
    }
    self.merge_up(id, false);
  }

  /// `__drm_buddy_free`: `id` is off every list; merges it with its buddy
  /// while that is free (and, unless `force`, equally clear), then lists the
  /// result. Returns the order reached.
  pub(super) fn merge_up(&mut self, mut id: u32, force: bool) -> u32 {
    self.nodes[id as usize].state = State::Split; // neither free nor allocated while merging
    loop {
      let parent = self.nodes[id as usize].parent;
      if parent == NIL {
        break;
      }
      let p = self.nodes[parent as usize];
      let buddy = if p.left == id { p.right } else { p.left };
      let b = self.nodes[buddy as usize];
      if b.state != State::Free {
        break;
      }
      let clear = self.nodes[id as usize].clear;
      if !force && clear != b.clear {
        break;
      }
      self.unlist(buddy);
      if force && b.clear {
        self.clear_avail -= self.block_size(buddy);
      }
      self.free_slots.push(id);
      self.free_slots.push(buddy);
      let p = &mut self.nodes[parent as usize];
      p.left = NIL;
      p.right = NIL;
      p.clear = !force && clear;
      id = parent;
    }
    self.mark_free(id);
    self.nodes[id as usize].order
  }

  pub(super) fn release_all(&mut self, ids: &[u32]) {
    for &id in ids {
      self.release(id);
    }
  }
}
