/**
 * A VA space's mappings as the binding lists them packed (`listPacked`, in
 * native/napi/vm.rs): five u64 words a mapping (addr, range, offset,
 * obj | flags << 32, seq as an f64's bits), read back into records here,
 * where making an object costs far less than in the binding.
 */
import type { VaRecord } from '../contract/vm.js'

/** The words of the packed listing per mapping. */
const LIST_WORDS = 5

/** The records of a packed listing, in its order (the tree's). */
export function unpackVas(words: BigUint64Array): VaRecord[] {
  // Little-endian, as the I/O buffer: a word's low half first.
  const halves = new Uint32Array(words.buffer, words.byteOffset, 2 * words.length)
  const numbers = new Float64Array(words.buffer, words.byteOffset, words.length)
  const out: VaRecord[] = []
  for (let i = 0; i < words.length; i += LIST_WORDS) {
    const addr = words[i]
    const range = words[i + 1]
    const offset = words[i + 2]
    const ids = 2 * (i + 3)
    out.push({ addr, range, obj: halves[ids], offset, seq: numbers[i + 4], flags: halves[ids + 1] })
  }
  return out
}
