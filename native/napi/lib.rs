//! The N-API binding of drmsim: converts at the edge and forwards to
//! drmsim-core. Written by hand; `napi build` (`npm run build:native`)
//! compiles it and generates, from its `#[napi]` items, the loader `index.js`
//! and the types `index.d.ts` at the package root (do not edit those).
//!
//! Two calling conventions, one per kind of call:
//! - the hot calls of a VA space go through raw Node-API entry points
//!   (calls.rs, `fastInit`) that take a VA space id (registry.rs) and pass
//!   their arguments and results through one per-thread I/O buffer (io.rs)
//!   laid out by `drmsim_core::wire`;
//! - everything else is a napi-rs class or function: the VA space's cold
//!   calls (vm.rs), the device (device.rs), the range allocators (alloc.rs),
//!   the workload run inside Rust (vmbind.rs). u64 values cross as BigInt,
//!   checked to be lossless and unsigned (convert.rs).
//!
//! Errors carry the kernel errno name as their `code`. Every export catches
//! panics, so nothing a caller passes can abort the process. Every object
//! reports its native memory to V8 (external.rs).

// napi-rs registers no export in a test build, so every entry point would be
// dead code there (`cargo clippy --all-targets`).
#![cfg_attr(test, allow(dead_code))]

mod alloc;
// Atomic bind arrays and undo's reinsert.
mod array;
mod attach;
mod batch;
mod calls;
mod convert;
// Time: the copy engine, move fences, delayed destroy (issue 16).
mod copy;
mod device;
// The device's hot calls reading their arguments from a per-thread block (fast-jsplace).
mod device_block;
// drm_exec's runs: lock, fence and unlock a run of objects in one crossing (execloop).
mod device_exec;
// The device's hot calls as raw Node-API entry points (speed-js).
mod device_fast;
// The dmem cgroup controller (issue 16).
mod dmem;
// The never-freed argument blocks of device_block.rs and vm_block.rs.
mod env_block;
mod external;
// The device's fences (split from device.rs).
mod fences;
mod hub;
mod io;
// Resource managers, private memory types, multihop (ttm-res).
mod managers;
// The page-table cost model (issue 15).
mod pagetable;
// ttm-pool: TTM page pools (issue 16).
mod pool;
// ttm-pool: the device's tts from page pools.
mod device_pool;
// ttm-lru: priorities, bulk moves, eviction policy, swap (issue 16).
mod pressure;
mod raw;
mod registry;
mod thread;
mod vm;
mod vmbind;
// The VA space's hottest calls reading their id and request from a per-thread block (request470).
mod vm_block;
