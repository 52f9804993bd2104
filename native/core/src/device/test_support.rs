//! What the device's unit tests share: a plain place, locking a buffer's
//! reservation on thread 0, and a buffer created straight into a domain.

use super::*;

/// The simulated thread the tests run on.
pub const T0: u32 = 0;

pub fn place(d: Domain) -> Place {
  Place::at(d, 0)
}

pub fn lock(d: &mut Device, id: u32) {
  let r = d.object(id).unwrap().resv;
  assert_eq!(d.lock(T0, r, None, LockMode::Normal).unwrap(), LockResult::Ok);
}

pub fn unlock(d: &mut Device, id: u32) {
  let r = d.object(id).unwrap().resv;
  d.unlock(T0, r).unwrap();
}

/// Creates a buffer and validates it into `to`, unlocked afterwards.
pub fn put_in(d: &mut Device, id: u32, size: u64, to: Domain) {
  d.create_object(id, size, None, Profile::GemVram2024).unwrap();
  lock(d, id);
  d.validate(T0, id, &[place(to)]).unwrap();
  unlock(d, id);
}
