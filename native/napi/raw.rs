//! Node-API itself (`napi::sys`) for the fast entry points: the errors they
//! throw, and reading their arguments.

use napi::sys;
use std::ffi::{c_void, CString};
use std::ptr;

/// An error to throw: the errno name (the JS `code`) and the message.
pub(crate) struct Failure {
  pub(crate) code: &'static str,
  pub(crate) message: String,
}

impl From<drmsim_core::Error> for Failure {
  fn from(e: drmsim_core::Error) -> Self {
    Failure {
      code: e.errno.name(),
      message: e.message,
    }
  }
}

/// The binding's own errors (a walk not open).
impl From<napi::Error<crate::convert::Code>> for Failure {
  fn from(e: napi::Error<crate::convert::Code>) -> Self {
    Failure {
      code: e.status.0,
      message: e.reason,
    }
  }
}

pub(crate) fn einval(message: impl Into<String>) -> Failure {
  Failure {
    code: "EINVAL",
    message: message.into(),
  }
}

pub(crate) fn check(status: sys::napi_status, what: &str) -> Result<(), Failure> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(einval(format!("{what} (Node-API status {status})")))
  }
}

/// The failure of a caught panic. The payload is forgotten, not dropped: a
/// payload whose drop panics again must not unwind any further.
pub(crate) fn panic_failure(payload: Box<dyn std::any::Any + Send>) -> Failure {
  let message = if let Some(s) = payload.downcast_ref::<String>() {
    s.clone()
  } else if let Some(s) = payload.downcast_ref::<&str>() {
    (*s).to_string()
  } else {
    "a Rust panic".to_string()
  };
  std::mem::forget(payload);
  Failure {
    code: "EPANIC",
    message: format!("drmsim: panic in the native engine: {message}"),
  }
}

/// The message every deliberate test panic starts with.
pub(crate) const DELIBERATE_PANIC: &str = "drmsim: deliberate panic";

/// Keeps the panics the boundary tests cause on purpose off stderr (a green
/// test run stays quiet); every other panic is reported as before. Installed
/// once, by the test hooks that arm such a panic.
pub(crate) fn quiet_deliberate_panics() {
  static ONCE: std::sync::Once = std::sync::Once::new();
  ONCE.call_once(|| {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
      let message = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
      if !message.is_some_and(|m| m.starts_with(DELIBERATE_PANIC)) {
        report(info);
      }
    }));
  });
}

/// Throws `failure` as an `Error` with `code`, unless an exception is already
/// pending.
///
/// # Safety
/// `env` is the env of the callback in progress.
pub(crate) unsafe fn throw(env: sys::napi_env, failure: Failure) {
  let code = CString::new(failure.code).unwrap_or_default();
  let message = CString::new(failure.message.replace('\0', " ")).unwrap_or_default();
  // SAFETY: env is the env of the callback in progress (the caller's
  // contract); `pending` is a live local, and both strings are NUL-terminated
  // and live until Node has copied them.
  unsafe {
    let mut pending = false;
    sys::napi_is_exception_pending(env, &mut pending);
    if !pending {
      sys::napi_throw_error(env, code.as_ptr(), message.as_ptr());
    }
  }
}

/// The arguments of the current call, `N` of them; Node fills the missing
/// ones with undefined.
///
/// # Safety
/// `env` and `info` are those Node passed to the callback.
#[inline]
pub(crate) unsafe fn args<const N: usize>(
  env: sys::napi_env,
  info: sys::napi_callback_info,
) -> Result<[sys::napi_value; N], Failure> {
  let mut argv: [sys::napi_value; N] = [ptr::null_mut(); N];
  let mut argc = N;
  // SAFETY: env and info are the callback's (the caller's contract); argv
  // has room for argc values.
  let status = unsafe {
    sys::napi_get_cb_info(
      env,
      info,
      &mut argc,
      argv.as_mut_ptr(),
      ptr::null_mut(),
      ptr::null_mut(),
    )
  };
  check(status, "bad call")?;
  Ok(argv)
}

/// The id a call names its VA space by.
///
/// # Safety
/// `value` is an argument of the current call on `env`, or null.
#[inline]
pub(crate) unsafe fn id_arg(env: sys::napi_env, value: sys::napi_value) -> Result<f64, Failure> {
  let mut id = f64::NAN;
  // SAFETY: value is an argument of the current call on env (the caller's
  // contract), not null; `id` is a live local.
  if value.is_null() || unsafe { sys::napi_get_value_double(env, value, &mut id) } != sys::Status::napi_ok {
    return Err(einval("a VA space id must be a number"));
  }
  Ok(id)
}

/// A typed array argument of the wanted type: its data and length in
/// elements.
///
/// # Safety
/// `value` is an argument of the current call on `env`, or null.
pub(crate) unsafe fn typed_array(
  env: sys::napi_env,
  value: sys::napi_value,
  want: sys::napi_typedarray_type,
  what: &str,
) -> Result<(*mut c_void, usize), Failure> {
  let mut is_typed = false;
  // SAFETY: value is an argument of the current call on env (the caller's
  // contract), checked to be non-null first; every out pointer is a live
  // local.
  unsafe {
    if value.is_null()
      || sys::napi_is_typedarray(env, value, &mut is_typed) != sys::Status::napi_ok
      || !is_typed
    {
      return Err(einval(format!("{what} must be a typed array")));
    }
    let mut kind = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut byte_offset = 0usize;
    check(
      sys::napi_get_typedarray_info(
        env,
        value,
        &mut kind,
        &mut len,
        &mut data,
        &mut buffer,
        &mut byte_offset,
      ),
      what,
    )?;
    if kind != want {
      return Err(einval(format!("{what} has the wrong element type")));
    }
    if data.is_null() && len > 0 {
      return Err(einval(format!("{what} is detached")));
    }
    Ok((data, len))
  }
}

/// Whether an argument is absent, undefined or null.
///
/// # Safety
/// `value` is an argument of the current call on `env`, or null.
pub(crate) unsafe fn is_nullish(env: sys::napi_env, value: sys::napi_value) -> bool {
  let mut t = 0;
  // SAFETY: value is an argument of the current call on env (the caller's
  // contract), checked to be non-null first; `t` is a live local.
  value.is_null()
    || unsafe { sys::napi_typeof(env, value, &mut t) } == sys::Status::napi_ok
      && (t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null)
}
