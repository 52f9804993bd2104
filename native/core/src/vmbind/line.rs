//! The trace's lines, written by hand: through `core::fmt`, `{:#x}` and a
//! `String` for each remap piece cost several times the request a line
//! describes, and a traced or hashed run (a sweep task, a golden check)
//! spent most of its time there. The bytes are those of `{:#x}` and `{}`.

/// `v` as `{:#x}` writes it: `0x`, then lowercase digits without leading zeros.
pub(super) fn hex(out: &mut Vec<u8>, v: u64) {
  let digits = ((64 - v.leading_zeros() as usize).div_ceil(4)).max(1);
  // The significant digits shifted to the top come out first; the zeros
  // shifted in at the bottom are cut off. A digit loop mispredicts its exit
  // whenever the count of digits changes, which in a trace is every number.
  let top = v << (4 * (16 - digits));
  let mut buf = [0u8; 18];
  buf[0] = b'0';
  buf[1] = b'x';
  buf[2..10].copy_from_slice(&ascii_digits((top >> 32) as u32).to_be_bytes());
  buf[10..].copy_from_slice(&ascii_digits(top as u32).to_be_bytes());
  whole_then_cut(out, &buf, 2 + digits);
}

/// The eight hex digits of `x` in ASCII, one a byte, the most significant in
/// the top byte: the nibbles spread apart (halves, bytes, then nibbles), then
/// '0' added to each and, to those past 9, the gap between '9' + 1 and 'a'.
fn ascii_digits(x: u32) -> u64 {
  let x = u64::from(x);
  let x = (x & 0xffff) | ((x & 0xffff_0000) << 16);
  let x = (x & 0x0000_00ff_0000_00ff) | ((x & 0x0000_ff00_0000_ff00) << 8);
  let x = (x & 0x000f_000f_000f_000f) | ((x & 0x00f0_00f0_00f0_00f0) << 4);
  let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
  x + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'9' - 1)
}

/// `v` in decimal, as `{}` writes it.
pub(super) fn dec(out: &mut Vec<u8>, mut v: u64) {
  let digits = v.checked_ilog10().map_or(1, |d| d as usize + 1);
  let mut buf = [0u8; 20];
  for d in buf[..digits].iter_mut().rev() {
    *d = b'0' + (v % 10) as u8;
    v /= 10;
  }
  whole_then_cut(out, &buf, digits);
}

/// Appends the first `len` bytes of `buf`. A copy of a length known only at
/// run time is a call to `memmove`, which cost a sixth of a hashed run over
/// lines of a few bytes each; the whole array is a few fixed-size moves, and
/// cutting off the tail is a store of the length.
fn whole_then_cut<const N: usize>(out: &mut Vec<u8>, buf: &[u8; N], len: usize) {
  let at = out.len();
  out.extend_from_slice(buf);
  out.truncate(at + len);
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
