//! What the examples share (each includes this file as `mod common`).

/// CPU time this thread has run, in ns (`/proc/thread-self/schedstat`): on a
/// shared machine, time spent waiting for a core is left out.
pub fn cpu_ns() -> u64 {
  let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
  stat
    .split_whitespace()
    .next()
    .and_then(|v| v.parse().ok())
    .unwrap_or(0)
}
