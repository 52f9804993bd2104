//! Fences and the fence list of a reservation object (`dma_resv`): usages,
//! slot reservation, replacement on add, queries at or below a usage.
//! Fences signal explicitly or when the simulated clock reaches their time,
//! with an error or none (`dma_fence_set_error`).

use super::{slot, Device, ViolationKind as V};
use crate::errno::{fail, Errno, Result};

/// `enum dma_resv_usage`: a query for U sees every fence with usage <= U.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Usage {
  Kernel = 0,
  Write = 1,
  Read = 2,
  Bookkeep = 3,
}

impl Usage {
  pub fn from_u32(v: u32) -> Result<Usage> {
    Ok(match v {
      0 => Usage::Kernel,
      1 => Usage::Write,
      2 => Usage::Read,
      3 => Usage::Bookkeep,
      _ => return fail(Errno::EINVAL, format!("fence usage must be 0..3, got {v}")),
    })
  }
}

#[derive(Clone, Debug)]
pub struct Fence {
  pub context: u32,
  pub seqno: u32,
  /// Simulated time at which it signals by itself, if any.
  pub signal_at: Option<u64>,
  pub signaled: bool,
  /// 0, or the negative errno it signals (or signaled) with.
  pub error: i32,
}

/// `MAX_ERRNO`: a fence error is a negative errno in `-MAX_ERRNO..=-1`.
pub const MAX_ERRNO: i32 = 4095;

fn check_error(error: i32) -> Result<()> {
  if !(-MAX_ERRNO..=-1).contains(&error) {
    return fail(
      Errno::EINVAL,
      format!("a fence error is a negative errno (-4095..-1), got {error}"),
    );
  }
  Ok(())
}

impl Device {
  pub fn create_fence(&mut self, context: u32, seqno: u32, signal_at: Option<u64>) -> Result<u32> {
    if self.fences.len() >= u32::MAX as usize - 1 {
      return fail(Errno::ENOMEM, "too many fences");
    }
    self.fences.push(Fence {
      context,
      seqno,
      signal_at,
      signaled: false,
      error: 0,
    });
    Ok(self.fences.len() as u32)
  }

  pub fn fence(&self, id: u32) -> Result<&Fence> {
    Ok(&self.fences[slot(id, self.fences.len(), "fence")?])
  }

  pub fn signal_fence(&mut self, id: u32) -> Result<()> {
    let i = slot(id, self.fences.len(), "fence")?;
    self.fences[i].signaled = true;
    self.copy_fence_signaled(id);
    Ok(())
  }

  /// `dma_fence_set_error`: the error the fence signals with. Setting it on
  /// a fence that has signaled is recorded (the kernel WARNs) and done.
  pub fn set_fence_error(&mut self, id: u32, error: i32) -> Result<()> {
    let i = slot(id, self.fences.len(), "fence")?;
    check_error(error)?;
    if self.fence_signaled(id)? {
      self.violate(
        V::FenceErrorAfterSignal,
        0,
        format!("fence {id}: error {error} set after it signaled"),
      );
    }
    self.fences[i].error = error;
    Ok(())
  }

  /// The simulation's own (no kernel call): when a fence that has not
  /// signaled will signal by itself (`None`: only by hand) and with which
  /// error (0: none). A job scheduler sets it on its out-fences once it knows
  /// when the job ends, and again if that changes. EINVAL once signaled.
  pub fn schedule_fence(&mut self, id: u32, signal_at: Option<u64>, error: i32) -> Result<()> {
    let i = slot(id, self.fences.len(), "fence")?;
    if error != 0 {
      check_error(error)?;
    }
    if self.fence_signaled(id)? {
      return fail(
        Errno::EINVAL,
        format!("fence {id} has signaled: its time and error are final"),
      );
    }
    let f = &mut self.fences[i];
    f.signal_at = signal_at;
    f.error = error;
    Ok(())
  }

  pub fn fence_signaled(&self, id: u32) -> Result<bool> {
    let f = self.fence(id)?;
    Ok(f.signaled || f.signal_at.is_some_and(|t| self.now >= t))
  }

  pub(crate) fn signaled_unchecked(&self, id: u32) -> bool {
    self.fence_signaled(id).unwrap_or(true)
  }

  /// `dma_resv_reserve_fences`: room for `n` more; growing compacts out
  /// signaled fences, as the kernel's reallocation does.
  pub fn reserve_fences(&mut self, thread: u32, resv: u32, n: u32) -> Result<()> {
    self.resv(resv)?;
    self.assert_held(thread, resv, "dma_resv_reserve_fences")?;
    let n = n as usize;
    let (num, max) = {
      let r = self.resv(resv)?;
      (r.fences.len(), r.max_fences)
    };
    let new_max = if max > 0 {
      if num + n <= max {
        return Ok(());
      }
      (num + n).max(max * 2)
    } else {
      n.next_power_of_two().max(4)
    };
    let kept: Vec<(u32, Usage)> = {
      let r = self.resv(resv)?;
      r.fences
        .iter()
        .copied()
        .filter(|&(f, _)| !self.signaled_unchecked(f))
        .collect()
    };
    let r = self.resv_mut(resv)?;
    r.fences = kept;
    r.max_fences = new_max;
    Ok(())
  }

  /// `dma_resv_add_fence`: replaces a signaled entry or an earlier fence of
  /// the same context whose usage is at least as strong; appends otherwise.
  pub fn add_fence(&mut self, thread: u32, resv: u32, fence: u32, usage: Usage) -> Result<()> {
    self.resv(resv)?;
    let (ctx, seqno) = {
      let f = self.fence(fence)?;
      (f.context, f.seqno)
    };
    self.assert_held(thread, resv, "dma_resv_add_fence")?;
    let entries = self.resv(resv)?.fences.clone();
    for (i, (old, old_usage)) in entries.iter().copied().enumerate() {
      let o = self.fence(old)?;
      let same = o.context == ctx && old_usage >= usage && seqno >= o.seqno;
      if same || self.signaled_unchecked(old) {
        self.resv_mut(resv)?.fences[i] = (fence, usage);
        return Ok(());
      }
    }
    let (num, max, owner) = {
      let r = self.resv(resv)?;
      (r.fences.len(), r.max_fences, r.owner)
    };
    if num >= max {
      self.violate(
        V::FenceSlotNotReserved,
        owner,
        format!("fence {fence} added to resv {resv} without a reserved slot ({num} of {max} used)"),
      );
    }
    let r = self.resv_mut(resv)?;
    r.fences.push((fence, usage));
    r.max_fences = r.max_fences.max(r.fences.len());
    Ok(())
  }

  /// Every (fence, usage) entry with usage <= `usage`, in list order.
  pub fn fences(&self, resv: u32, usage: Usage) -> Result<Vec<(u32, Usage)>> {
    Ok(
      self
        .resv(resv)?
        .fences
        .iter()
        .copied()
        .filter(|&(_, u)| u <= usage)
        .collect(),
    )
  }

  /// `dma_resv_test_signaled`.
  pub fn test_signaled(&self, resv: u32, usage: Usage) -> Result<bool> {
    Ok(
      self
        .fences(resv, usage)?
        .iter()
        .all(|&(f, _)| self.signaled_unchecked(f)),
    )
  }
}
