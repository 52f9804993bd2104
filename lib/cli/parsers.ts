/**
 * The parsers of the commands' numeric arguments: a bad value is commander's
 * usage error (exit 2). Apart from common.ts, which loads the engines, so
 * that what runs before them (sweep-early.ts) can parse too.
 */
import { InvalidArgumentError } from 'commander'

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`not a non-negative integer: ${text}`)
    const n = Number(text)
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be in [${min}, ${max}]`)
    return n
  }
}

export function positive(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`not a positive integer: ${text}`)
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer')
  return n
}

export function u64(text: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text)) throw new InvalidArgumentError(`not a u64 (decimal or 0x hex): ${text}`)
  const n = BigInt(text)
  if (n >= 1n << 64n) throw new InvalidArgumentError('must be below 2^64')
  return n
}
