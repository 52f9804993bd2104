//! Huge pages for large node arrays.
//!
//! With millions of mappings the leaves take hundreds of MiB and every
//! request lands on a random one: with 4 KiB pages each of those accesses
//! also misses the TLB and walks the page tables, which costs as much as the
//! cache miss itself. Asking the kernel to back a large array with 2 MiB
//! pages (`MADV_HUGEPAGE`, for machines whose transparent huge pages are in
//! `madvise` mode) removes most of those walks. It is a hint: nothing changes
//! when the kernel ignores it.

/// Arrays smaller than this keep their small pages: a small VA space should
/// not round its memory up to 2 MiB.
const MIN_BYTES: usize = 4 << 20;

/// Makes room for one more element in `v`. A full array that is to grow
/// past `MIN_BYTES` moves to a new buffer that is advised before its first
/// touch: the kernel picks a page size when a page is first touched, so
/// advising a buffer that `realloc` moved (its old pages along with it)
/// would give huge pages to the new half alone. The copy is what `realloc`
/// would do without `mremap`; it stays amortized O(1) per element.
#[inline]
pub(super) fn make_room<T>(v: &mut Vec<T>) {
  if v.len() < v.capacity() {
    return;
  }
  let capacity = (v.capacity() * 2).max(4);
  if !cfg!(target_os = "linux") || capacity * size_of::<T>() < MIN_BYTES {
    return;
  }
  let mut grown: Vec<T> = Vec::with_capacity(capacity);
  advise(grown.as_ptr().cast(), grown.capacity() * size_of::<T>());
  grown.append(v);
  *v = grown;
}

#[cfg(target_os = "linux")]
fn advise(ptr: *const u8, bytes: usize) {
  const PAGE: usize = 4096;
  const MADV_HUGEPAGE: i32 = 14;
  extern "C" {
    fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
  }
  // The whole pages inside the buffer.
  let start = (ptr as usize).next_multiple_of(PAGE);
  let end = (ptr as usize + bytes) & !(PAGE - 1);
  if end <= start {
    return;
  }
  // SAFETY: the range lies inside a live allocation that this process owns;
  // MADV_HUGEPAGE only changes how the kernel backs it, never its contents,
  // and a failure (an old kernel, huge pages turned off) is harmless.
  unsafe {
    madvise(start as *mut std::ffi::c_void, end - start, MADV_HUGEPAGE);
  }
}

#[cfg(not(target_os = "linux"))]
fn advise(_ptr: *const u8, _bytes: usize) {}

#[cfg(test)]
mod tests;
