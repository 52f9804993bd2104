/**
 * The napi-rs binding, shared by the native engines: the generated loader,
 * required once, and the wrapper that turns its errors into DrmError.
 */
import { DrmError } from '../base/errors.js'

type Binding = typeof import('../../index.js')

let binding: Binding | undefined

/**
 * The loader napi-rs generated at the package root, required once (lib/ and
 * its compiled twin dist/ both sit right under the root).
 */
export function loadBinding(): Binding {
  binding ??= require('../../index.js') as Binding
  return binding
}

/** Runs a binding call, turning what it throws (code = errno) into a DrmError. */
export function call<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw DrmError.from(e)
  }
}
