//! Conversions at the edge for the napi-rs calls: the error type JavaScript
//! sees (`code` = the errno name), u64 arguments as lossless BigInts, and the
//! records handed back.

use drmsim_core::gpuvm::Va;
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;

/// The error code JavaScript sees on `err.code`.
pub struct Code(pub(crate) &'static str);

impl AsRef<str> for Code {
  fn as_ref(&self) -> &str {
    self.0
  }
}

pub(crate) type Result<T> = napi::Result<T, Code>;

pub(crate) fn to_js(e: drmsim_core::Error) -> napi::Error<Code> {
  napi::Error::new(Code(e.errno.name()), e.message)
}

pub(crate) fn einval(message: String) -> napi::Error<Code> {
  napi::Error::new(Code("EINVAL"), message)
}

pub(crate) fn busy() -> napi::Error<Code> {
  napi::Error::new(Code("EBUSY"), "the VA space is in use by another call")
}

pub(crate) fn u64_arg(v: &BigInt, what: &str) -> Result<u64> {
  let (signed, value, lossless) = v.get_u64();
  if signed && value != 0 || !lossless {
    return Err(einval(format!("{what} must be a bigint in [0, 2^64)")));
  }
  Ok(value)
}

/// A mapping's seq as JavaScript passes it (a number): a safe non-negative
/// integer.
pub(crate) fn seq_arg(seq: f64) -> Option<u64> {
  (seq >= 0.0 && seq.fract() == 0.0 && seq <= 9007199254740991.0).then_some(seq as u64)
}

pub(crate) const BAD_SEQ: &str = "seq must be a safe non-negative integer";

/// A mapping's key: its address and seq.
pub(crate) fn key(addr: &BigInt, seq: f64) -> Result<(u64, u64)> {
  let seq = seq_arg(seq).ok_or_else(|| einval(BAD_SEQ.into()))?;
  Ok((u64_arg(addr, "addr")?, seq))
}

#[napi(object)]
pub struct VaRecord {
  pub addr: BigInt,
  pub range: BigInt,
  pub obj: u32,
  pub offset: BigInt,
  pub seq: f64,
  pub flags: u32,
}

pub(crate) fn va_record(va: Va) -> VaRecord {
  VaRecord {
    addr: BigInt::from(va.addr),
    range: BigInt::from(va.range),
    obj: va.obj,
    offset: BigInt::from(va.offset),
    seq: va.seq as f64,
    flags: va.flags,
  }
}

#[napi(object)]
pub struct WarningRecord {
  pub kind: String,
  pub message: String,
  pub rule: String,
}
