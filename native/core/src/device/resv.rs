//! Reservation locks: a ww_mutex per resv, acquire contexts with stamps, and
//! the two ww classes (wait-die, the kernel's reservation class, and
//! wound-wait). Lockdep-style misuse is recorded, not refused.

use super::{slot, Device, ViolationKind as V};
use crate::errno::{fail, Errno, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WwClass {
  WaitDie,
  WoundWait,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
  Normal,
  /// `ww_mutex_lock_slow`: the backoff path after -EDEADLK.
  Slow,
  /// `ww_mutex_trylock`: never waits, never dies.
  Try,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockResult {
  Ok,
  /// Die (wait-die) or wounded (wound-wait): back off and lock_slow.
  Deadlk,
  /// Already held by this context.
  Already,
  /// Trylock on a held lock.
  Busy,
  /// The caller must sleep until `holder` (a thread) lets go.
  Blocked {
    holder: u32,
  },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
  pub thread: u32,
  pub ctx: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct AcquireCtx {
  pub thread: u32,
  pub stamp: u64,
  /// Locks held through this context.
  pub acquired: u32,
  /// The lock that made us die; the next lock must be it, with nothing held.
  pub contending: Option<u32>,
  pub wounded: bool,
  pub done: bool,
  pub fini: bool,
}

#[derive(Clone, Debug)]
pub struct Resv {
  /// The GEM object it was created for (0 for a shared or bare resv).
  pub owner: u32,
  pub holder: Option<Holder>,
  /// (fence id, usage) in insertion order, as `dma_resv_list`.
  pub fences: Vec<(u32, super::Usage)>,
  /// Slots allocated; `fences.len()` of them are used.
  pub max_fences: usize,
}

impl Device {
  pub fn create_resv(&mut self, owner: u32) -> Result<u32> {
    if self.resvs.len() >= u32::MAX as usize - 1 {
      return fail(Errno::ENOMEM, "too many reservation objects");
    }
    self.resvs.push(Resv {
      owner,
      holder: None,
      fences: Vec::new(),
      max_fences: 0,
    });
    Ok(self.resvs.len() as u32)
  }

  pub fn resv(&self, id: u32) -> Result<&Resv> {
    Ok(&self.resvs[slot(id, self.resvs.len(), "reservation object")?])
  }

  pub(crate) fn resv_mut(&mut self, id: u32) -> Result<&mut Resv> {
    let i = slot(id, self.resvs.len(), "reservation object")?;
    Ok(&mut self.resvs[i])
  }

  pub fn ctx(&self, id: u32) -> Result<&AcquireCtx> {
    Ok(&self.ctxs[slot(id, self.ctxs.len(), "acquire context")?])
  }

  /// A live (not yet finished) context, for the calls that use one.
  fn live_ctx(&self, id: u32, thread: u32) -> Result<usize> {
    let i = slot(id, self.ctxs.len(), "acquire context")?;
    let c = &self.ctxs[i];
    if c.fini {
      return fail(Errno::EINVAL, format!("acquire context {id} is finished"));
    }
    if c.thread != thread {
      return fail(
        Errno::EINVAL,
        format!(
          "acquire context {id} belongs to thread {}, not {thread}",
          c.thread
        ),
      );
    }
    Ok(i)
  }

  /// `ww_acquire_init`: a new transaction with the next (youngest) stamp.
  pub fn ctx_init(&mut self, thread: u32) -> Result<u32> {
    if self.ctxs.len() >= u32::MAX as usize - 1 {
      return fail(Errno::ENOMEM, "too many acquire contexts");
    }
    if let Some(open) = self.ctxs.iter().position(|c| c.thread == thread && !c.fini) {
      self.violate(
        V::CtxNestedInit,
        0,
        format!(
          "thread {thread} inits a second acquire context while context {} is not finished",
          open + 1
        ),
      );
    }
    self.stamp += 1;
    self.ctxs.push(AcquireCtx {
      thread,
      stamp: self.stamp,
      acquired: 0,
      contending: None,
      wounded: false,
      done: false,
      fini: false,
    });
    Ok(self.ctxs.len() as u32)
  }

  /// `ww_acquire_done`: the end of the acquire phase.
  pub fn ctx_done(&mut self, thread: u32, ctx: u32) -> Result<()> {
    let i = self.live_ctx(ctx, thread)?;
    self.ctxs[i].done = true;
    Ok(())
  }

  /// `ww_acquire_fini`: every lock should have been released first.
  pub fn ctx_fini(&mut self, thread: u32, ctx: u32) -> Result<()> {
    let i = self.live_ctx(ctx, thread)?;
    let held = self.ctxs[i].acquired;
    if held > 0 {
      self.violate(
        V::FiniWithLocksHeld,
        0,
        format!("acquire context {ctx} finished with {held} lock(s) still held"),
      );
    }
    self.ctxs[i].fini = true;
    Ok(())
  }

  /// Whether `thread` holds the lock (with or without a context).
  pub fn held_by(&self, resv: u32, thread: u32) -> bool {
    self
      .resv(resv)
      .is_ok_and(|r| r.holder.is_some_and(|h| h.thread == thread))
  }

  /// Lock `resv` for `thread`, through `ctx` when given.
  pub fn lock(&mut self, thread: u32, resv: u32, ctx: Option<u32>, mode: LockMode) -> Result<LockResult> {
    let ri = slot(resv, self.resvs.len(), "reservation object")?;
    let ci = match ctx {
      Some(c) => Some(self.live_ctx(c, thread)?),
      None if mode == LockMode::Slow => return fail(Errno::EINVAL, "lock_slow needs an acquire context"),
      None => None,
    };
    let owner = self.resvs[ri].owner;
    let holder = self.resvs[ri].holder;

    if let Some(ci) = ci {
      if self.ctxs[ci].done && mode != LockMode::Try {
        self.violate(
          V::LockAfterDone,
          owner,
          format!("resv {resv} locked with context {} after ww_acquire_done", ci + 1),
        );
      }
      if self.class == WwClass::WoundWait && self.ctxs[ci].acquired == 0 {
        self.ctxs[ci].wounded = false;
      }
      if mode == LockMode::Slow {
        self.check_slow(ci, resv, owner);
      }
    }

    let Some(h) = holder else {
      if let (Some(ci), LockMode::Normal) = (ci, mode) {
        self.check_after_edeadlk(ci, resv, owner);
      }
      if let Some(ci) = ci {
        let c = &mut self.ctxs[ci];
        c.acquired += 1;
        if mode != LockMode::Try {
          c.contending = None;
        }
      }
      self.resvs[ri].holder = Some(Holder { thread, ctx });
      return Ok(LockResult::Ok);
    };

    if mode == LockMode::Try {
      return Ok(LockResult::Busy);
    }
    if ctx.is_some() && h.ctx == ctx {
      return Ok(LockResult::Already);
    }
    if h.thread == thread && (ctx.is_none() || h.ctx.is_none()) {
      // A plain lock of a lock this thread already holds never returns.
      self.violate(
        V::RecursiveLock,
        owner,
        format!("thread {thread} locks resv {resv}, which it already holds"),
      );
      return Ok(LockResult::Blocked { holder: thread });
    }
    let (Some(ci), Some(hc)) = (ci, h.ctx) else {
      return Ok(LockResult::Blocked { holder: h.thread });
    };
    let hi = (hc as usize).wrapping_sub(1);
    let me = &self.ctxs[ci];
    let (my_stamp, acquired, wounded) = (me.stamp, me.acquired, me.wounded);
    let their_stamp = self.ctxs.get(hi).map_or(u64::MAX, |c| c.stamp);
    match self.class {
      WwClass::WaitDie => {
        if acquired > 0 && their_stamp < my_stamp {
          self.ctxs[ci].contending = Some(resv);
          return Ok(LockResult::Deadlk);
        }
      }
      WwClass::WoundWait => {
        if acquired > 0 && wounded {
          self.ctxs[ci].contending = Some(resv);
          return Ok(LockResult::Deadlk);
        }
        // An older transaction that holds locks wounds a younger holder.
        if acquired > 0 && their_stamp > my_stamp {
          if let Some(c) = self.ctxs.get_mut(hi) {
            c.wounded = true;
          }
        }
      }
    }
    Ok(LockResult::Blocked { holder: h.thread })
  }

  /// The checks `ww_mutex_lock_slow` makes before it locks.
  fn check_slow(&mut self, ci: usize, resv: u32, owner: u32) {
    let c = &self.ctxs[ci];
    let (contending, acquired, id) = (c.contending, c.acquired, ci + 1);
    match contending {
      None => self.violate(
        V::SlowWithoutEdeadlk,
        owner,
        format!("lock_slow of resv {resv} by context {id} without a prior -EDEADLK"),
      ),
      Some(c) if c != resv => self.violate(
        V::SlowWrongLock,
        owner,
        format!("lock_slow of resv {resv} by context {id}, but resv {c} was contended"),
      ),
      Some(_) => {}
    }
    if acquired > 0 {
      self.violate(
        V::SlowWhileHolding,
        owner,
        format!("lock_slow of resv {resv} by context {id} while it holds {acquired} lock(s)"),
      );
    }
  }

  /// The checks `ww_mutex_lock` makes on acquiring after an -EDEADLK.
  fn check_after_edeadlk(&mut self, ci: usize, resv: u32, owner: u32) {
    let c = &self.ctxs[ci];
    let Some(contended) = c.contending else {
      return;
    };
    let (acquired, id) = (c.acquired, ci + 1);
    if contended != resv {
      self.violate(
        V::EdeadlkWrongLock,
        owner,
        format!("context {id} got -EDEADLK on resv {contended} but locks resv {resv} first"),
      );
    }
    if acquired > 0 {
      self.violate(
        V::EdeadlkNotBackedOff,
        owner,
        format!("context {id} locks resv {resv} after -EDEADLK with {acquired} lock(s) still held"),
      );
    }
  }

  /// Unlocks; misuse is recorded and leaves the lock as it was. Unlocking
  /// drops the reserved fence slots, as debug kernels do, and moves the
  /// resv's buffers to their LRU tails (`ttm_bo_unreserve`).
  pub fn unlock(&mut self, thread: u32, resv: u32) -> Result<()> {
    self.unlock_resv(thread, resv, true)
  }

  /// `bump`: false for eviction's own unlock (a bare `dma_resv_unlock`).
  pub(crate) fn unlock_resv(&mut self, thread: u32, resv: u32, bump: bool) -> Result<()> {
    let ri = slot(resv, self.resvs.len(), "reservation object")?;
    let owner = self.resvs[ri].owner;
    match self.resvs[ri].holder {
      None => {
        self.violate(
          V::UnlockNotHeld,
          owner,
          format!("thread {thread} unlocks resv {resv}, which is not locked"),
        );
      }
      Some(h) if h.thread != thread => {
        self.violate(
          V::UnlockNotOwner,
          owner,
          format!("thread {thread} unlocks resv {resv}, held by thread {}", h.thread),
        );
      }
      Some(h) => {
        if let Some(c) = h
          .ctx
          .and_then(|c| self.ctxs.get_mut((c as usize).wrapping_sub(1)))
        {
          c.acquired = c.acquired.saturating_sub(1);
        }
        let r = &mut self.resvs[ri];
        r.holder = None;
        r.max_fences = r.fences.len();
        if bump {
          self.lru_unreserve(resv);
        }
      }
    }
    Ok(())
  }

  /// `dma_resv_assert_held`: records a violation unless `thread` holds it.
  pub fn assert_held(&mut self, thread: u32, resv: u32, what: &str) -> Result<bool> {
    let owner = self.resv(resv)?.owner;
    if self.held_by(resv, thread) {
      return Ok(true);
    }
    self.violate(
      V::ResvNotHeld,
      owner,
      format!("{what} on resv {resv} without its lock (thread {thread})"),
    );
    Ok(false)
  }
}
