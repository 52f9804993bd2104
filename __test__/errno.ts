/** Shared by the spec files: the errno a call fails with. */
import { expect } from 'vitest'
import { DrmError } from '../lib/base/errors.js'

/** The errno of the DrmError `f` throws (anything else fails the test), or 'no error'. */
export function errnoOf(f: () => unknown): string {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(DrmError)
    return (e as DrmError).errno
  }
  return 'no error'
}

/** What a call gave, for comparing engines: `{ ok }`, or the DrmError's errno and message (anything else is thrown). */
export function outcomeOf(f: () => unknown): { ok: unknown } | { errno: string; message: string } {
  try {
    return { ok: f() ?? null }
  } catch (e) {
    if (!(e instanceof DrmError)) throw e
    return { errno: e.errno, message: e.message }
  }
}

/** The error `f` throws (its `code` and `message` read by the caller); a call that returns fails the test. */
export function thrown(f: () => unknown): { code?: unknown; message?: unknown } {
  try {
    f()
  } catch (e) {
    return e as { code?: unknown; message?: unknown }
  }
  throw new Error('did not throw')
}
