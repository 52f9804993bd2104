//! The store's node arrays: `Nodes`, a vector of plain nodes that, once
//! large, grows without copying and asks for huge pages.
//!
//! Two costs of a large array that a `Vec` pays:
//! - Growing copies it into fresh memory, and the first touch of fresh
//!   memory is what growth costs: 0.6-0.8 ms a MiB on the project's VM, so
//!   that while 10^6 ranges went in, a quarter of an insert's time was the
//!   leaves' doublings (bench/PROFILE.md, seventh round). Here the pages of
//!   a large array are moved to a larger mapping (`mremap`): nothing is
//!   copied, and only the new part is ever touched for the first time.
//! - With millions of mappings every request lands on a random leaf; with
//!   4 KiB pages each of those accesses also misses the TLB and walks the
//!   page tables, which costs as much as the cache miss itself. A large
//!   array is its own mapping, on 2 MiB boundaries, advised
//!   `MADV_HUGEPAGE` before its first touch (for machines whose transparent
//!   huge pages are in `madvise` mode), and a move keeps the huge pages
//!   whole. The advice is a hint: nothing changes when the kernel ignores it.
//!
//! Small arrays stay on the heap: a small VA space should not round its
//! memory up to 2 MiB. Elsewhere than on Linux every array does.

use std::alloc::{self, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Arrays of at least this many bytes are mappings of their own (on Linux).
/// A mapping is whole huge pages: from 8 MiB on, rounding up to them adds
/// less than a quarter to the room the doubling asked for (from 4 MiB on,
/// up to a half: the bind path's heap figure rose from 62 to 71 bytes a
/// mapping on the large window).
pub(super) const MIN_BYTES: usize = 8 << 20;

/// A huge page: the alignment and the size step of a mapped array. A
/// mapping's last huge page is resident whole once touched; with small
/// pages there, each later growth left a partly filled 2 MiB range on small
/// pages, and inserts from empty took 420 ns against 359 (5 pairs).
const HUGE: usize = 2 << 20;

/// A growable array of nodes that need no drop.
pub(super) struct Nodes<T> {
  ptr: NonNull<T>,
  len: usize,
  cap: usize,
  /// The bytes of the mapping that holds the array; 0 while it is on the heap.
  mapped: usize,
}

// SAFETY: `Nodes` owns its elements as a `Vec` does; nothing is shared.
unsafe impl<T: Send> Send for Nodes<T> {}
// SAFETY: as above: `&Nodes` gives only `&T`.
unsafe impl<T: Sync> Sync for Nodes<T> {}

impl<T> Nodes<T> {
  const PLAIN: () = assert!(
    !std::mem::needs_drop::<T>() && size_of::<T>() > 0,
    "Nodes holds sized nodes without drop glue"
  );

  pub(super) const fn new() -> Nodes<T> {
    let () = Self::PLAIN;
    Nodes {
      ptr: NonNull::dangling(),
      len: 0,
      cap: 0,
      mapped: 0,
    }
  }

  pub(super) fn capacity(&self) -> usize {
    self.cap
  }

  /// Whether the array is a mapping of its own (for tests).
  #[cfg(test)]
  pub(super) fn is_mapped(&self) -> bool {
    self.mapped != 0
  }

  #[inline]
  pub(super) fn push(&mut self, node: T) {
    if self.len == self.cap {
      self.grow();
    }
    // SAFETY: `len < cap`: the slot lies inside the buffer and is unused.
    unsafe { self.ptr.as_ptr().add(self.len).write(node) };
    self.len += 1;
  }

  /// Doubles the room (at least 4 nodes).
  #[cold]
  fn grow(&mut self) {
    let want = self.cap.saturating_mul(2).max(4);
    let bytes = want
      .checked_mul(size_of::<T>())
      .filter(|&b| b <= isize::MAX as usize - HUGE)
      .expect("a node array within the address space");
    // Where the kernel refuses a mapping (its count of mappings is
    // bounded), the array goes on, or back, to the heap.
    if !(cfg!(target_os = "linux") && bytes >= MIN_BYTES && self.grow_mapped(bytes.next_multiple_of(HUGE))) {
      self.grow_on_heap(want);
    }
  }

  fn layout(cap: usize) -> Layout {
    Layout::array::<T>(cap).expect("checked by grow")
  }

  fn grow_on_heap(&mut self, want: usize) {
    let new = Self::layout(want);
    // SAFETY: a heap buffer of `cap` nodes (if any) was allocated with
    // `layout(cap)`, a mapping (if any) holds `len` initialised nodes;
    // `new` is non-zero in size and within isize::MAX.
    let raw = unsafe {
      if self.mapped != 0 {
        let raw = alloc::alloc(new);
        if !raw.is_null() {
          std::ptr::copy_nonoverlapping(self.ptr.as_ptr().cast::<u8>(), raw, self.len * size_of::<T>());
          map::free(self.ptr.as_ptr().cast(), self.mapped);
          self.mapped = 0;
        }
        raw
      } else if self.cap == 0 {
        alloc::alloc(new)
      } else {
        alloc::realloc(self.ptr.as_ptr().cast(), Self::layout(self.cap), new.size())
      }
    };
    self.ptr = NonNull::new(raw.cast()).unwrap_or_else(|| alloc::handle_alloc_error(new));
    self.cap = want;
  }

  /// Grows into a mapping of `bytes`; false if the kernel refused one.
  fn grow_mapped(&mut self, bytes: usize) -> bool {
    let to = if self.mapped == 0 {
      // From the heap into a mapping: the one copy, of less than MIN_BYTES.
      let Some(to) = map::new(bytes) else { return false };
      // SAFETY: `to` is a fresh mapping of `bytes` > len nodes, and the
      // heap buffer holds `len` initialised nodes, which move (no drop).
      unsafe {
        std::ptr::copy_nonoverlapping(self.ptr.as_ptr().cast::<u8>(), to, self.len * size_of::<T>());
        if self.cap != 0 {
          alloc::dealloc(self.ptr.as_ptr().cast(), Self::layout(self.cap));
        }
      }
      to
    } else {
      // SAFETY: `ptr` is the start of this array's own mapping of `mapped` bytes.
      let Some(to) = (unsafe { map::grow(self.ptr.as_ptr().cast(), self.mapped, bytes) }) else {
        return false;
      };
      to
    };
    self.ptr = NonNull::new(to.cast()).expect("a mapping is never at address 0");
    self.mapped = bytes;
    self.cap = bytes / size_of::<T>();
    true
  }
}

impl<T> Default for Nodes<T> {
  fn default() -> Self {
    Nodes::new()
  }
}

impl<T> Deref for Nodes<T> {
  type Target = [T];
  #[inline]
  fn deref(&self) -> &[T] {
    // SAFETY: the first `len` nodes are initialised; `ptr` is aligned and
    // non-null (dangling only when `len` is 0).
    unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
  }
}

impl<T> DerefMut for Nodes<T> {
  #[inline]
  fn deref_mut(&mut self) -> &mut [T] {
    // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
    unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
  }
}

impl<T: Clone> Clone for Nodes<T> {
  fn clone(&self) -> Self {
    let mut copy = Nodes::new();
    for node in self.iter() {
      copy.push(node.clone());
    }
    copy
  }
}

impl<T> Drop for Nodes<T> {
  fn drop(&mut self) {
    // The nodes need no drop (`PLAIN`); only the buffer goes.
    if self.mapped != 0 {
      // SAFETY: `ptr` is the start of this array's own mapping.
      unsafe { map::free(self.ptr.as_ptr().cast(), self.mapped) };
    } else if self.cap != 0 {
      // SAFETY: the heap buffer was allocated with `layout(cap)`.
      unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), Self::layout(self.cap)) };
    }
  }
}

/// Anonymous mappings on 2 MiB boundaries, advised for huge pages.
#[cfg(target_os = "linux")]
mod map {
  use super::HUGE;
  use libc::{c_void, MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE};

  #[cfg(test)]
  thread_local! {
    /// Set by tests to have every new mapping refused, as a kernel out of
    /// mappings (`vm.max_map_count`) or of address space would.
    pub(super) static REFUSE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
  }

  /// A new read-write mapping of `bytes` (a multiple of `HUGE`) that starts
  /// on a `HUGE` boundary; none if the kernel refuses it.
  pub(super) fn new(bytes: usize) -> Option<*mut u8> {
    #[cfg(test)]
    if REFUSE.get() {
      return None;
    }
    // SAFETY: a fresh anonymous mapping (no address given) touches nothing
    // of this process's; the ends trimmed off are parts of it.
    unsafe {
      let raw = libc::mmap(
        std::ptr::null_mut(),
        bytes + HUGE,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
        0,
      );
      if raw == MAP_FAILED {
        return None;
      }
      let raw = raw as usize;
      let start = raw.next_multiple_of(HUGE);
      if start > raw {
        libc::munmap(raw as *mut c_void, start - raw);
      }
      let end = raw + bytes + HUGE;
      if end > start + bytes {
        libc::munmap((start + bytes) as *mut c_void, end - (start + bytes));
      }
      // A failure (an old kernel, huge pages turned off) is harmless.
      libc::madvise(start as *mut c_void, bytes, MADV_HUGEPAGE);
      Some(start as *mut u8)
    }
  }

  /// Moves the pages of the mapping `old` (`old_bytes`) to the start of a
  /// new one of `bytes`, on a `HUGE` boundary so that huge pages move whole;
  /// `old` is gone afterwards. None (and `old` untouched) if the kernel
  /// refuses.
  ///
  /// # Safety
  /// `old` must be a whole mapping of `old_bytes` made by `new` or `grow`.
  pub(super) unsafe fn grow(old: *mut u8, old_bytes: usize, bytes: usize) -> Option<*mut u8> {
    // The target is reserved first so that it is aligned; MREMAP_FIXED
    // replaces the reservation with the moved pages.
    let to = new(bytes)?;
    // SAFETY: `old` is a whole mapping (the caller's promise) and `to` one
    // this function just made; neither is used by anything else.
    unsafe {
      let moved = libc::mremap(
        old.cast(),
        old_bytes,
        bytes,
        libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
        to.cast::<c_void>(),
      );
      if moved == MAP_FAILED {
        libc::munmap(to.cast(), bytes);
        return None;
      }
      libc::madvise(to.cast(), bytes, MADV_HUGEPAGE);
    }
    Some(to)
  }

  /// # Safety
  /// `at` must be a whole mapping of `bytes` made by `new` or `grow`.
  pub(super) unsafe fn free(at: *mut u8, bytes: usize) {
    // SAFETY: the caller's promise.
    unsafe { libc::munmap(at.cast(), bytes) };
  }
}

/// Never called: without Linux every array stays on the heap.
#[cfg(not(target_os = "linux"))]
mod map {
  pub(super) fn new(_bytes: usize) -> Option<*mut u8> {
    None
  }
  pub(super) unsafe fn grow(_old: *mut u8, _old_bytes: usize, _bytes: usize) -> Option<*mut u8> {
    None
  }
  pub(super) unsafe fn free(_at: *mut u8, _bytes: usize) {}
}

#[cfg(test)]
mod tests;
