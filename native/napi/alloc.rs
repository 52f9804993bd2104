//! Bindings of the range allocators (`drmsim_core::alloc`). Node and block
//! lists cross as one packed BigUint64Array: `[start, size, color]` per mm
//! node, `[start, size]` per hole, `[offset, size, clear]` per buddy block.

use crate::convert::{einval, to_js, u64_arg, Result};
use crate::external::{reported, External, Reported};
use drmsim_core::alloc::{Block, Buddy, InsertMode, Mm};
use napi::bindgen_prelude::{BigInt, BigUint64Array, BigUint64ArraySlice, Env};
use napi_derive::napi;

fn mode_arg(mode: u32) -> Result<InsertMode> {
  Ok(match mode {
    0 => InsertMode::Best,
    1 => InsertMode::Low,
    2 => InsertMode::High,
    3 => InsertMode::Evict,
    m => return Err(einval(format!("unknown insert mode {m}"))),
  })
}

/// One `drm_mm` range allocator. Modes: 0 best, 1 low, 2 high, 3 evict.
/// Its heap is reported to V8 (`Reported`).
#[napi(custom_finalize)]
pub struct NativeMm {
  mm: Mm,
  external: External,
}

reported!(NativeMm, |this| this.mm.heap_bytes());

#[napi]
impl NativeMm {
  /// `guard`: free bytes kept between allocated neighbours of different colours (none by default).
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, start: BigInt, size: BigInt, guard: Option<BigInt>) -> Result<Self> {
    let guard = match guard {
      Some(g) => u64_arg(&g, "guard")?,
      None => 0,
    };
    let mm =
      Mm::with_color_guard(u64_arg(&start, "start")?, u64_arg(&size, "size")?, guard).map_err(to_js)?;
    let this = NativeMm {
      mm,
      external: External::default(),
    };
    this.report(&env);
    Ok(this)
  }

  /// Bytes of native memory this allocator has reported to V8.
  #[napi(getter)]
  pub fn external_bytes(&self) -> f64 {
    self.external.bytes()
  }

  /// Inserts a node, without BigInt conversions: `io` holds `[size, alignment,
  /// color, range start, range end]` and receives the new node's start in
  /// `io[0]` (a BigInt per argument costs more than the insert itself).
  #[napi(catch_unwind)]
  pub fn insert_io(&mut self, env: Env, mut io: BigUint64ArraySlice, mode: u32) -> Result<()> {
    self.changing(&env, |this| {
      // SAFETY: the slice is the array's memory, valid for this call, and the
      // mutable borrow ends with it. JavaScript on this thread waits for the
      // call; the engine (lib/native/alloc.ts) passes its own array, over an
      // ArrayBuffer of its own that no other thread sees.
      let io = unsafe { io.as_mut() };
      if io.len() < 5 {
        return Err(einval("insert_io needs 5 words".into()));
      }
      let node = this
        .mm
        .insert(io[0], io[1], io[2], io[3], io[4], mode_arg(mode)?)
        .map_err(to_js)?;
      io[0] = node.start;
      Ok(())
    })
  }

  #[napi(catch_unwind)]
  pub fn reserve(&mut self, env: Env, start: BigInt, size: BigInt, color: BigInt) -> Result<()> {
    self.changing(&env, |this| {
      let (start, size, color) = (
        u64_arg(&start, "start")?,
        u64_arg(&size, "size")?,
        u64_arg(&color, "color")?,
      );
      this.mm.reserve(start, size, color).map(|_| ()).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn remove(&mut self, env: Env, start: BigInt) -> Result<()> {
    self.changing(&env, |this| {
      this
        .mm
        .remove(u64_arg(&start, "start")?)
        .map(|_| ())
        .map_err(to_js)
    })
  }

  /// `drm_mm_replace_node`: the node at `start` gets `color` (its own to keep it).
  #[napi(catch_unwind)]
  pub fn replace(&mut self, env: Env, start: BigInt, color: BigInt) -> Result<()> {
    self.changing(&env, |this| {
      let (start, color) = (u64_arg(&start, "start")?, u64_arg(&color, "color")?);
      this.mm.replace(start, color).map(|_| ()).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn nodes(&self) -> Result<BigUint64Array> {
    Ok(BigUint64Array::new(
      self.mm.nodes().flat_map(|n| [n.start, n.size, n.color]).collect(),
    ))
  }

  #[napi(catch_unwind)]
  pub fn holes(&self) -> Result<BigUint64Array> {
    Ok(BigUint64Array::new(
      self.mm.holes().flat_map(|h| [h.start, h.size]).collect(),
    ))
  }

  /// `[used, free, largest hole, nodes, holes]`.
  #[napi(catch_unwind)]
  pub fn stats(&self) -> Result<BigUint64Array> {
    let s = self.mm.stats();
    Ok(BigUint64Array::new(vec![
      s.used,
      s.free,
      s.largest_hole,
      s.nodes as u64,
      s.holes as u64,
    ]))
  }

  /// `drm_mm_scan_init_with_range`; `args` holds `[size, alignment, color, range start, range end]`.
  #[napi(catch_unwind)]
  pub fn scan_init(&mut self, env: Env, args: BigUint64Array, mode: u32) -> Result<()> {
    self.changing(&env, |this| {
      let mode = mode_arg(mode)?;
      let [size, alignment, color, range_start, range_end] = args[..] else {
        return Err(einval("scan_init needs 5 words".into()));
      };
      this
        .mm
        .scan_init(size, alignment, color, range_start, range_end, mode)
        .map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn scan_add(&mut self, env: Env, start: BigInt) -> Result<bool> {
    self.changing(&env, |this| {
      this.mm.scan_add_block(u64_arg(&start, "start")?).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn scan_remove(&mut self, env: Env, start: BigInt) -> Result<bool> {
    self.changing(&env, |this| {
      this
        .mm
        .scan_remove_block(u64_arg(&start, "start")?)
        .map_err(to_js)
    })
  }

  /// `[start, end)` of the hole found last, or an empty array.
  #[napi(catch_unwind)]
  pub fn scan_hit(&self) -> Result<BigUint64Array> {
    Ok(BigUint64Array::new(
      self.mm.scan_hit().map_or(Vec::new(), |(s, e)| vec![s, e]),
    ))
  }

  /// `drm_mm_scan_color_evict`: `[start]` of the extra node to evict, or an empty array.
  #[napi(catch_unwind)]
  pub fn scan_color_evict(&self) -> Result<BigUint64Array> {
    let victim = self.mm.scan_color_evict().map_err(to_js)?;
    Ok(BigUint64Array::new(victim.into_iter().collect()))
  }

  /// `[found, victims...]`, victims in removal order.
  #[napi(catch_unwind)]
  pub fn scan_run(&mut self, env: Env, candidates: BigUint64Array) -> Result<BigUint64Array> {
    self.changing(&env, |this| {
      let (found, victims) = this.mm.scan_run(&candidates).map_err(to_js)?;
      let mut out = Vec::with_capacity(victims.len() + 1);
      out.push(u64::from(found));
      out.extend(victims);
      Ok(BigUint64Array::new(out))
    })
  }
}

fn block_words(b: Block) -> [u64; 3] {
  [b.offset, b.size, u64::from(b.clear)]
}

fn packed_blocks(blocks: impl IntoIterator<Item = Block>) -> BigUint64Array {
  BigUint64Array::new(blocks.into_iter().flat_map(block_words).collect())
}

/// One `drm_buddy` allocator. Flags: 1 range, 2 topdown, 4 contiguous, 8 clear, 32 trim disable.
/// Its heap is reported to V8 (`Reported`).
#[napi(custom_finalize)]
pub struct NativeBuddy {
  buddy: Buddy,
  /// The last `alloc_io` result when it did not fit in the caller's array.
  spill: Vec<u64>,
  external: External,
}

reported!(NativeBuddy, |this| this.buddy.heap_bytes()
  + this.spill.capacity() * 8);

#[napi]
impl NativeBuddy {
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, size: BigInt, chunk_size: BigInt) -> Result<Self> {
    let buddy = Buddy::new(u64_arg(&size, "size")?, u64_arg(&chunk_size, "chunk size")?).map_err(to_js)?;
    let this = NativeBuddy {
      buddy,
      spill: Vec::new(),
      external: External::default(),
    };
    this.report(&env);
    Ok(this)
  }

  /// Bytes of native memory this allocator has reported to V8.
  #[napi(getter)]
  pub fn external_bytes(&self) -> f64 {
    self.external.bytes()
  }

  #[napi(getter)]
  pub fn size(&self) -> BigInt {
    BigInt::from(self.buddy.size())
  }

  #[napi(getter)]
  pub fn max_order(&self) -> u32 {
    self.buddy.max_order()
  }

  /// Allocates blocks, without BigInt conversions or a new array per call: `io` holds
  /// `[start, end, size, min block size]` and receives the packed blocks.
  /// Returns the block count; when `3 * count` exceeds `io.length` the
  /// blocks are kept for `take_spill` instead.
  #[napi(catch_unwind)]
  pub fn alloc_io(&mut self, env: Env, mut io: BigUint64ArraySlice, flags: u32) -> Result<u32> {
    self.changing(&env, |this| {
      // SAFETY: the slice is the array's memory, valid for this call, and the
      // mutable borrow ends with it. JavaScript on this thread waits for the
      // call; the engine (lib/native/alloc.ts) passes its own array, over an
      // ArrayBuffer of its own that no other thread sees.
      let io = unsafe { io.as_mut() };
      if io.len() < 4 {
        return Err(einval("alloc_io needs 4 words".into()));
      }
      let blocks = this
        .buddy
        .alloc_blocks(io[0], io[1], io[2], io[3], flags)
        .map_err(to_js)?;
      let words: Vec<u64> = blocks.iter().copied().flat_map(block_words).collect();
      if words.len() <= io.len() {
        io[..words.len()].copy_from_slice(&words);
      } else {
        this.spill = words;
      }
      Ok(blocks.len() as u32)
    })
  }

  /// The blocks of the last `alloc_io` that did not fit.
  #[napi(catch_unwind)]
  pub fn take_spill(&mut self, env: Env) -> Result<BigUint64Array> {
    self.changing(&env, |this| {
      Ok(BigUint64Array::new(std::mem::take(&mut this.spill)))
    })
  }

  /// `drm_buddy_free_list`; `cleared` is `DRM_BUDDY_CLEARED`.
  #[napi(catch_unwind)]
  pub fn free(&mut self, env: Env, offsets: BigUint64Array, cleared: bool) -> Result<()> {
    self.changing(&env, |this| {
      this.buddy.free_blocks_marked(&offsets, cleared).map_err(to_js)
    })
  }

  /// `drm_buddy_reset_clear`.
  #[napi(catch_unwind)]
  pub fn reset_clear(&mut self, env: Env, is_clear: bool) -> Result<()> {
    self.changing(&env, |this| {
      this.buddy.reset_clear(is_clear);
      Ok(())
    })
  }

  #[napi(catch_unwind)]
  pub fn trim(&mut self, env: Env, offset: BigInt, new_size: BigInt) -> Result<BigUint64Array> {
    self.changing(&env, |this| {
      let (offset, new_size) = (u64_arg(&offset, "offset")?, u64_arg(&new_size, "new size")?);
      Ok(packed_blocks(this.buddy.trim(offset, new_size).map_err(to_js)?))
    })
  }

  #[napi(catch_unwind)]
  pub fn roots(&self) -> Result<BigUint64Array> {
    Ok(packed_blocks(self.buddy.roots()))
  }

  #[napi(catch_unwind)]
  pub fn free_list(&self) -> Result<BigUint64Array> {
    Ok(packed_blocks(self.buddy.free_list()))
  }

  #[napi(catch_unwind)]
  pub fn allocated_list(&self) -> Result<BigUint64Array> {
    Ok(packed_blocks(self.buddy.allocated_list()))
  }

  /// `[size, avail, used, largest free block, free blocks, allocated blocks, clear avail]`.
  #[napi(catch_unwind)]
  pub fn stats(&self) -> Result<BigUint64Array> {
    let s = self.buddy.stats();
    Ok(BigUint64Array::new(vec![
      s.size,
      s.avail,
      s.used,
      s.largest_free,
      s.free_blocks as u64,
      s.allocated_blocks as u64,
      s.clear_avail,
    ]))
  }
}
