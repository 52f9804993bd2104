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
