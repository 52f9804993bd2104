/**
 * The u64 check of the per-request hot paths (`GpuVm.bind`/`unbind`,
 * `BindBatch.map`/`unmap`): `u64` (lib/base/check.ts) with the same answer
 * and the same errors, but one BigInt comparison for a valid value instead
 * of two (TurboFan lowers `BigInt.asUintN(64, ...)`; Node 20's V8 calls a
 * builtin for each `<`/`>` on BigInts): about 100 instructions a request
 * fewer through `bind` (bench/RESULTS.md, issue 18).
 */
import { u64 } from '../base/check.js'

/** `value` if it is a bigint in [0, 2^64); anything else gets `u64`'s error. */
export const u64Fast = (value: unknown, what: string): bigint =>
  typeof value === 'bigint' && BigInt.asUintN(64, value) === value ? value : u64(value, what)
