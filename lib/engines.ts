/**
 * Picks the engine behind a VA space: the `engine` option, else
 * DRMSIM_ENGINE, else native. When the native binary cannot load, the
 * reference engine takes over with one warning, unless native was asked for.
 */
import type { EngineName, VmCore, VmCreateOptions } from './engine.js'
import { DrmError } from './errors.js'
import { NativeVmCore, loadBinding } from './native/gpuvm.js'
import { ReferenceVm } from './reference/gpuvm.js'

let fallbackWarned = false

export function defaultEngine(): EngineName {
  const env = process.env.DRMSIM_ENGINE
  if (env === undefined || env === '') return 'native'
  if (env === 'native' || env === 'reference') return env
  throw new DrmError('EINVAL', `DRMSIM_ENGINE must be 'native' or 'reference', not ${JSON.stringify(env)}`)
}

/** Whether the native engine can be used here, and why not. */
export function nativeAvailable(): { ok: true } | { ok: false; error: Error } {
  try {
    loadBinding()
    return { ok: true }
  } catch (error) {
    return { ok: false, error: error as Error }
  }
}

export function resolveEngine(requested?: EngineName): EngineName {
  if (requested !== undefined && requested !== 'native' && requested !== 'reference') {
    throw new DrmError('EINVAL', `engine must be 'native' or 'reference', not ${JSON.stringify(requested)}`)
  }
  const explicit = requested ?? (process.env.DRMSIM_ENGINE ? defaultEngine() : undefined)
  const engine = explicit ?? 'native'
  if (engine === 'reference') return engine
  const native = nativeAvailable()
  if (native.ok) return 'native'
  if (explicit === 'native') throw native.error
  if (!fallbackWarned) {
    fallbackWarned = true
    process.emitWarning(
      `drmsim: no native binary loads on ${process.platform}-${process.arch} (${native.error.message}); ` +
        'using the reference engine',
      { code: 'DRMSIM_NO_NATIVE' },
    )
  }
  return 'reference'
}

export function createCore(engine: EngineName, options: VmCreateOptions): VmCore {
  return engine === 'native' ? new NativeVmCore(options) : new ReferenceVm(options)
}
