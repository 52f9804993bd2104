//! The trace's lines, written by hand: through `core::fmt`, `{:#x}` and a
//! `String` for each remap piece cost several times the request a line
//! describes, and a traced or hashed run (a sweep task, a golden check)
//! spent most of its time there. The bytes are those of `{:#x}` and `{}`.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `v` as `{:#x}` writes it: `0x`, then lowercase digits without leading zeros.
pub(super) fn hex(out: &mut Vec<u8>, v: u64) {
  let digits = ((64 - v.leading_zeros() as usize).div_ceil(4)).max(1);
  let mut buf = [0u8; 18];
  buf[0] = b'0';
  buf[1] = b'x';
  for (i, d) in buf[2..2 + digits].iter_mut().enumerate() {
    *d = DIGITS[((v >> (4 * (digits - 1 - i))) & 0xf) as usize];
  }
  out.extend_from_slice(&buf[..2 + digits]);
}

/// `v` in decimal, as `{}` writes it.
pub(super) fn dec(out: &mut Vec<u8>, mut v: u64) {
  let mut buf = [0u8; 20];
  let mut at = buf.len();
  loop {
    at -= 1;
    buf[at] = b'0' + (v % 10) as u8;
    v /= 10;
    if v == 0 {
      break;
    }
  }
  out.extend_from_slice(&buf[at..]);
}

/// The values, each in `{:#x}`, separated by `sep`.
pub(super) fn hexes(out: &mut Vec<u8>, values: &[u64], sep: u8) {
  for (i, &v) in values.iter().enumerate() {
    if i > 0 {
      out.push(sep);
    }
    hex(out, v);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn the_bytes_of_core_fmt() {
    let mut values = vec![0, 1, 9, 10, 15, 16, 255, 256, u64::MAX, u64::MAX - 1, 1 << 63];
    values.extend((0..64).map(|s| 1u64 << s));
    values.extend((0..64).map(|s| (1u64 << s) - 1));
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..10_000 {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      values.push(x >> (x % 64));
    }
    for v in values {
      let mut out = Vec::new();
      hex(&mut out, v);
      assert_eq!(out, format!("{v:#x}").into_bytes());
      out.clear();
      dec(&mut out, v);
      assert_eq!(out, format!("{v}").into_bytes());
    }
    let mut out = Vec::new();
    hexes(&mut out, &[0x10, 0, 0xabc], b',');
    assert_eq!(out, b"0x10,0x0,0xabc");
  }
}
