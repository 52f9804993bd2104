/**
 * drm_exec's runs (execloop): the per-object steps of a driver's exec loop
 * over a run of objects in one engine call, where the single calls
 * (`lock`, `get`, `reserveFences`, `addFence`, `unlock`, `put`) cross once
 * per object and step. A run does an element only when its outcome is the
 * plain one, exactly as the single calls would, and stops at the first
 * element that is not; it returns how many it did. The caller does the
 * element it stopped at with the single calls (which give that element's
 * contention, error or violation), then starts a new run after it. So the
 * state after "runs plus single calls" is the state after the single calls.
 */
import { DrmError } from '../base/errors.js'

export interface ExecRunCore {
  /**
   * For `objs[i]` with reservation `resvs[i]`, i in [from, to): `lock(thread,
   * resvs[i], ctx, normal)`, `get(objs[i])`, then `reserveFences(thread,
   * resvs[i], reserve)` unless `reserve` is -1. Stops before an element whose
   * lock would be anything but the acquire of a free lock that records
   * nothing (context not live, of another thread, done or told -EDEADLK;
   * reservation held or unknown) or whose object is unknown, freed or at the
   * most references.
   */
  execLockRun(
    thread: number,
    ctx: number,
    objs: Uint32Array,
    resvs: Uint32Array,
    from: number,
    to: number,
    reserve: number,
  ): number
  /**
   * `addFence(thread, resvs[i], fence, usages[i])`, i in [from, to). Stops
   * before an element that fails and after one that records a violation.
   */
  addFenceRun(thread: number, resvs: Uint32Array, usages: Uint32Array, fence: number, from: number, to: number): number
  /**
   * `unlock(thread, resvs[i])` then `put(objs[i], 0)`, i in [from, to). Stops
   * before an element whose reservation `thread` does not hold or whose
   * object is unknown, freed or down to its last reference (whose put needs
   * the caller's count of VA mappings).
   */
  execUnlockRun(thread: number, objs: Uint32Array, resvs: Uint32Array, from: number, to: number): number
}

const u32 = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff)
    throw new DrmError('EINVAL', `${what} must be an integer in [0, 2^32), got ${String(v)}`)
  return v
}

/**
 * The arguments every run call shares, checked the same way by both engines
 * before anything runs: `thread`, two Uint32Arrays of one length, and the
 * window [from, to) inside them.
 */
export function checkRun(thread: unknown, a: unknown, b: unknown, from: unknown, to: unknown): void {
  u32(thread, 'thread')
  if (!(a instanceof Uint32Array) || !(b instanceof Uint32Array))
    throw new DrmError('EINVAL', 'a run takes its ids as two Uint32Arrays')
  if (a.length !== b.length)
    throw new DrmError('EINVAL', `a run needs two arrays of one length (${a.length} and ${b.length})`)
  const [f, t] = [u32(from, 'from'), u32(to, 'to')]
  if (f > t || t > a.length)
    throw new DrmError('EINVAL', `a run's window [${f}, ${t}) must lie inside its ${a.length} elements`)
}

/** `execLockRun`'s `reserve`: -1 (no reservation) or a slot count. */
export function checkReserve(reserve: unknown): number {
  return reserve === -1 ? -1 : u32(reserve, 'reserve')
}

export const checkId = u32
