/**
 * The napi-rs binding, shared by the native engines: the generated loader,
 * required once, and the wrapper that turns its errors into DrmError.
 *
 * Generated vs written by hand: `napi build` (`npm run build:native`)
 * generates the root `index.js` (this loader) and `index.d.ts` (its types)
 * from native/napi, whose Rust is written by hand; do not edit the generated
 * two. The wire layouts shared with the binding are generated too, from
 * native/core/src/wire.rs into lib/contract/wire.gen.ts (by a cargo test).
 * Everything under lib/ but wire.gen.ts is written by hand.
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
