//! The block tree: nodes in a slab, each block free, allocated or split into
//! two buddies; free blocks listed per order by offset; split on demand and
//! merged back upwards when both buddies are free.

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
    }
  }

  pub(super) fn mark_free(&mut self, id: u32) {
    let n = &mut self.nodes[id as usize];
    n.state = State::Free;
    self.free[n.order as usize].insert(n.offset, id);
  }

  pub(super) fn unlist(&mut self, id: u32) {
    let n = self.nodes[id as usize];
    if n.state == State::Free {
      self.free[n.order as usize].remove(&n.offset);
    }
  }

  pub(super) fn mark_allocated(&mut self, id: u32) {
    self.unlist(id);
    let n = &mut self.nodes[id as usize];
    n.state = State::Allocated;
    self.allocated.insert(n.offset, id);
    self.avail -= self.chunk << n.order;
  }

  pub(super) fn split(&mut self, id: u32) {
    let Node { offset, order, .. } = self.nodes[id as usize];
    let left = self.new_node(id, order - 1, offset);
    let right = self.new_node(id, order - 1, offset + (self.chunk << (order - 1)));
    self.mark_free(left);
    self.mark_free(right);
    self.unlist(id);
    let n = &mut self.nodes[id as usize];
    n.state = State::Split;
    n.left = left;
    n.right = right;
  }

  /// Frees an allocated block and merges it upwards while its buddy is free.
  pub(super) fn release(&mut self, mut id: u32) {
    let offset = self.nodes[id as usize].offset;
    self.allocated.remove(&offset);
    self.avail += self.block_size(id);
    self.nodes[id as usize].state = State::Split; // neither free nor allocated while merging
    loop {
      let parent = self.nodes[id as usize].parent;
      if parent == NIL {
        break;
      }
      let p = self.nodes[parent as usize];
      let buddy = if p.left == id { p.right } else { p.left };
      if self.nodes[buddy as usize].state != State::Free {
        break;
      }
      self.unlist(buddy);
      self.free_slots.push(id);
      self.free_slots.push(buddy);
      let p = &mut self.nodes[parent as usize];
      p.left = NIL;
      p.right = NIL;
      id = parent;
    }
    self.mark_free(id);
  }

  pub(super) fn release_all(&mut self, ids: &[u32]) {
    for &id in ids {
      self.release(id);
    }
  }
}
