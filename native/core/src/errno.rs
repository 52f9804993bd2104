//! Errors carry the kernel's errno name so users can match on it.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
  EINVAL,
  EEXIST,
  ENOSPC,
  ENOMEM,
  EDEADLK,
  EALREADY,
  EBUSY,
  ESRCH,
  EIO,
  ETIME,
  ECANCELED,
  EINTR,
  ERESTARTSYS,
  // dmem: a charge over a cgroup's max during eviction (ttm_bo_evict_alloc).
  EAGAIN,
}

impl Errno {
  pub fn name(self) -> &'static str {
    match self {
      Errno::EINVAL => "EINVAL",
      Errno::EEXIST => "EEXIST",
      Errno::ENOSPC => "ENOSPC",
      Errno::ENOMEM => "ENOMEM",
      Errno::EDEADLK => "EDEADLK",
      Errno::EALREADY => "EALREADY",
      Errno::EBUSY => "EBUSY",
      Errno::ESRCH => "ESRCH",
      Errno::EIO => "EIO",
      Errno::ETIME => "ETIME",
      Errno::ECANCELED => "ECANCELED",
      Errno::EINTR => "EINTR",
      Errno::ERESTARTSYS => "ERESTARTSYS",
      Errno::EAGAIN => "EAGAIN",
    }
  }

  /// The Linux errno number (a fence error is its negation, as `dma_fence_set_error` takes it).
  pub fn code(self) -> i32 {
    match self {
      Errno::ESRCH => 3,
      Errno::EIO => 5,
      Errno::ENOMEM => 12,
      Errno::EBUSY => 16,
      Errno::EEXIST => 17,
      Errno::EINVAL => 22,
      Errno::ENOSPC => 28,
      Errno::EDEADLK => 35,
      Errno::ETIME => 62,
      Errno::EALREADY => 114,
      Errno::ECANCELED => 125,
      Errno::EINTR => 4,
      // Kernel-internal: an interrupted wait to be restarted.
      Errno::ERESTARTSYS => 512,
      Errno::EAGAIN => 11,
    }
  }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
  pub errno: Errno,
  pub message: String,
}

impl Error {
  pub fn new(errno: Errno, message: impl Into<String>) -> Self {
    Error {
      errno,
      message: message.into(),
    }
  }
}

impl fmt::Display for Error {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}: {}", self.errno.name(), self.message)
  }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for building an `Err` with an errno and a message.
pub fn fail<T>(errno: Errno, message: impl Into<String>) -> Result<T> {
  Err(Error::new(errno, message))
}
