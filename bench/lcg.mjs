// The benchmarks' 64-bit LCG (Knuth's MMIX constants, the same as native/core/src/lcg.rs) without
// BigInt: the state is two 32-bit halves and the product is formed from 16-bit pieces, so every
// intermediate is an exact integer in a double. `lcg(seed)` answers `rnd(n)`, the next
// `Number(x >> 33n) % n` of the BigInt form (`lcgBig`, kept as the definition the fast form is
// checked against). It is the bench's scaffolding, not the measured API, so it must cost little.

const A_LO = 0x4c957f2d // 6364136223846793005 = 0x5851f42d_4c957f2d
const A_HI = 0x5851f42d
const A0 = A_LO & 0xffff
const A1 = A_LO >>> 16
const C_LO = 0xf767814f // 1442695040888963407 = 0x14057b7e_f767814f
const C_HI = 0x14057b7e

/**
 * The generator seeded with `seed` (below 2^53): `rnd(n)` is the next value in `0..n`.
 * @param {number} seed
 * @returns {(n: number) => number}
 */
export function lcg(seed) {
  // Kept as int32 so the closure's slots stay small integers.
  let lo = (seed % 2 ** 32) | 0
  let hi = Math.floor(seed / 2 ** 32) | 0
  return (n) => {
    const l0 = lo & 0xffff
    const l1 = lo >>> 16
    const mid = l0 * A1 + l1 * A0 // < 2^33
    const low = l0 * A0 + (mid % 0x10000) * 0x10000 + C_LO // < 2^34
    const carry = Math.floor(low / 2 ** 32) + Math.floor(mid / 0x10000) + l1 * A1
    hi = (Math.imul(hi, A_LO) + Math.imul(lo, A_HI) + carry + C_HI) | 0
    lo = low | 0
    return (hi >>> 1) % n
  }
}

/**
 * The same generator on BigInt, the form the benchmarks used first.
 * @param {number} seed
 * @returns {(n: number) => number}
 */
export function lcgBig(seed) {
  let x = BigInt(seed)
  return (n) => {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n)
    return Number(x >> 33n) % n
  }
}
