//! Rule violations: what lockdep, `WARN_ON` or a reviewer would catch. They are
//! recorded on the device, never refused, so a scenario can run on and show
//! what went wrong.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
  SlowWithoutEdeadlk,
  SlowWrongLock,
  SlowWhileHolding,
  EdeadlkWrongLock,
  EdeadlkNotBackedOff,
  RecursiveLock,
  UnlockNotHeld,
  UnlockNotOwner,
  FiniWithLocksHeld,
  CtxNestedInit,
  LockAfterDone,
  ResvNotHeld,
  FenceSlotNotReserved,
  FenceErrorAfterSignal,
  PinUnlocked,
  UnpinUnlocked,
  UnpinUnpinned,
  RepinOtherDomain,
  VmapUnlocked,
  VunmapUnlocked,
  VunmapUnbalanced,
  MoveUnlocked,
  ValidateUnlocked,
  MoveWhileVmapped,
  StaleMapping,
  UnmappedAccess,
  UnprotectedAccess,
  FreeWhileVaMapped,
  FreeWhileVmapped,
  FreeWhilePinned,
  AccessDuringMove,
}

impl ViolationKind {
  pub fn name(self) -> &'static str {
    use ViolationKind::*;
    match self {
      SlowWithoutEdeadlk => "slow-without-edeadlk",
      SlowWrongLock => "slow-wrong-lock",
      SlowWhileHolding => "slow-while-holding",
      EdeadlkWrongLock => "edeadlk-wrong-lock",
      EdeadlkNotBackedOff => "edeadlk-not-backed-off",
      RecursiveLock => "recursive-lock",
      UnlockNotHeld => "unlock-not-held",
      UnlockNotOwner => "unlock-not-owner",
      FiniWithLocksHeld => "fini-with-locks-held",
      CtxNestedInit => "ctx-nested-init",
      LockAfterDone => "lock-after-done",
      ResvNotHeld => "resv-not-held",
      FenceSlotNotReserved => "fence-slot-not-reserved",
      FenceErrorAfterSignal => "fence-error-after-signal",
      PinUnlocked => "pin-unlocked",
      UnpinUnlocked => "unpin-unlocked",
      UnpinUnpinned => "unpin-unpinned",
      RepinOtherDomain => "repin-other-domain",
      VmapUnlocked => "vmap-unlocked",
      VunmapUnlocked => "vunmap-unlocked",
      VunmapUnbalanced => "vunmap-unbalanced",
      MoveUnlocked => "move-unlocked",
      ValidateUnlocked => "validate-unlocked",
      MoveWhileVmapped => "move-while-vmapped",
      StaleMapping => "stale-mapping",
      UnmappedAccess => "unmapped-access",
      UnprotectedAccess => "unprotected-access",
      FreeWhileVaMapped => "free-while-va-mapped",
      FreeWhileVmapped => "free-while-vmapped",
      FreeWhilePinned => "free-while-pinned",
      AccessDuringMove => "access-during-move",
    }
  }

  /// The seed (or kernel source) rule the check comes from.
  pub fn rule(self) -> &'static str {
    use ViolationKind::*;
    match self {
      SlowWithoutEdeadlk => "ww_mutex: lock_slow only after -EDEADLK (lockdep)",
      SlowWrongLock => "ww_mutex: lock_slow must take the contended lock (lockdep)",
      SlowWhileHolding => "ww_mutex: unlock every lock before lock_slow (lockdep)",
      EdeadlkWrongLock => "ww_mutex: after -EDEADLK the contended lock comes first (lockdep)",
      EdeadlkNotBackedOff => "ww_mutex: after -EDEADLK unlock everything before locking again (lockdep)",
      RecursiveLock => "mutex: a plain lock of a held lock deadlocks (lockdep: recursive locking)",
      UnlockNotHeld => "mutex: unlock only what is locked (DEBUG_MUTEXES)",
      UnlockNotOwner => "mutex: only the owner unlocks (DEBUG_MUTEXES)",
      FiniWithLocksHeld => "ww_mutex: ww_acquire_fini with locks held (DEBUG_WW_MUTEX)",
      CtxNestedInit => "ww_mutex: one acquire context per task until fini (lockdep)",
      LockAfterDone => "ww_mutex: no locking after ww_acquire_done (DEBUG_WW_MUTEX)",
      ResvNotHeld => "dma_resv: fence slots and fences need the reservation lock (dma_resv_assert_held)",
      FenceSlotNotReserved => "dma_resv: add_fence needs a reserved slot (BUG_ON)",
      FenceErrorAfterSignal => "dma_fence: dma_fence_set_error on a signaled fence (WARN_ON)",
      PinUnlocked => "seed-003: pin_locked requires the reservation lock",
      UnpinUnlocked => "seed-003: unpin_locked requires the reservation lock",
      UnpinUnpinned => "ttm: unpin of an unpinned buffer (WARN_ON pin_count == 0)",
      RepinOtherDomain => {
        "gem-vram: re-pinning a pinned buffer keeps its domain; unpin before pinning elsewhere"
      }
      VmapUnlocked => "seed-001: callers must hold the dma_buf resv lock before calling vmap",
      VunmapUnlocked => "seed-001: vunmap is called with the reservation lock held",
      VunmapUnbalanced => "seed-002: WARN_ON_ONCE(!kmap_use_count) on an unbalanced unmap",
      MoveUnlocked => "ttm: moving a buffer requires its reservation lock",
      ValidateUnlocked => "ttm: ttm_bo_validate requires the reservation lock (dma_resv_assert_held)",
      MoveWhileVmapped => "gem-vram: move_notify WARNs when a vmapped buffer moves (a pin was missing)",
      StaleMapping => "seed-000: a mapping used after the buffer was relocated",
      UnmappedAccess => "seed-002: a mapping used after its last vunmap",
      UnprotectedAccess => "seed-000/001: hold the resv lock from vmap until the mapping is released, or pin",
      FreeWhileVaMapped => "gpuvm: a GEM object freed while GPU VA mappings still point at it",
      FreeWhileVmapped => "seed-002: WARN_ON(kmap_use_count) at buffer cleanup",
      FreeWhilePinned => "ttm: a buffer freed while pinned",
      AccessDuringMove => {
        "ttm: CPU access after a move waits for the buffer's KERNEL (move) fences (ttm_bo_wait_ctx)"
      }
    }
  }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
  pub kind: ViolationKind,
  /// The GEM object concerned, 0 when none (a bare lock or context).
  pub object: u32,
  pub message: String,
}
