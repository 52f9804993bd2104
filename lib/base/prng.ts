import { count, u64 } from './check.js'

/** splitmix64 (the workload's PRNG, also the scheduler's): the same stream everywhere for a seed. */
export class SplitMix64 {
  static readonly #MASK = (1n << 64n) - 1n
  #state: bigint

  /** `seed`: a u64 bigint or a non-negative safe integer; anything else is EINVAL. */
  constructor(seed: bigint | number) {
    this.#state = typeof seed === 'bigint' ? u64(seed, 'seed') : BigInt(count(seed, 'seed'))
  }

  next(): bigint {
    const mask = SplitMix64.#MASK
    this.#state = (this.#state + 0x9e37_79b9_7f4a_7c15n) & mask
    let z = this.#state
    z = ((z ^ (z >> 30n)) * 0xbf58_476d_1ce4_e5b9n) & mask
    z = ((z ^ (z >> 27n)) * 0x94d0_49bb_1331_11ebn) & mask
    return z ^ (z >> 31n)
  }

  /** `next() mod n`. */
  below(n: bigint): bigint {
    return this.next() % n
  }
}
