/**
 * The one place that names both engines. It picks the engine of a VA space,
 * device or allocator (the `engine` option, else DRMSIM_ENGINE, else native;
 * when the native binary cannot load, the reference engine takes over with
 * one warning, unless native was asked for) and makes its cores.
 */
import { describe, oneOf } from './base/check.js'
import { DrmError } from './base/errors.js'
import type { BuddyCore, ColorAdjustRecord, MmCore } from './contract/alloc.js'
import type { DeviceCore, MemoryRecord } from './contract/device.js'
import type { EngineName, VmCore, VmCreateOptions } from './contract/vm.js'
// ttm-pool: TTM page pools.
import type { PoolCore } from './contract/pool.js'
import { NativePoolsCore } from './native/pool.js'
import { ReferencePools } from './reference/device/pool.js'
import { NativeBuddyCore, NativeMmCore } from './native/alloc.js'
import { loadBinding } from './native/binding.js'
import { NativeDeviceCore } from './native/device.js'
import { NativeVmCore } from './native/gpuvm.js'
import { ReferenceBuddy } from './reference/alloc/buddy.js'
import { ReferenceMm } from './reference/alloc/mm.js'
import { ReferenceDevice } from './reference/device/index.js'
import { ReferenceVm } from './reference/gpuvm/vm.js'

/** What an engine makes: the cores behind the public classes. */
export interface Engine {
  vm(options: VmCreateOptions): VmCore
  device(wwClass: number, memory: MemoryRecord): DeviceCore
  mm(start: bigint, size: bigint, adjust?: ColorAdjustRecord): MmCore
  buddy(size: bigint, chunkSize: bigint): BuddyCore
  /** ttm-pool: the TTM globals and their device pools. */
  pools(pagePoolSize: number): PoolCore
  /** The canonical workload in one call, where the engine has such a loop (native: inside Rust). */
  readonly vmbindRun?: ReturnType<typeof loadBinding>['vmbindRun']
}

const native: Engine = {
  vm: (options) => new NativeVmCore(options),
  device: (wwClass, memory) => new NativeDeviceCore(wwClass, memory),
  mm: (start, size, adjust) => new NativeMmCore(start, size, adjust),
  buddy: (size, chunkSize) => new NativeBuddyCore(size, chunkSize),
  pools: (pagePoolSize) => new NativePoolsCore(pagePoolSize),
  get vmbindRun() {
    return loadBinding().vmbindRun
  },
}

const reference: Engine = {
  vm: (options) => new ReferenceVm(options),
  device: (wwClass, memory) => new ReferenceDevice(wwClass, memory),
  mm: (start, size, adjust) => new ReferenceMm(start, size, adjust),
  buddy: (size, chunkSize) => new ReferenceBuddy(size, chunkSize),
  pools: (pagePoolSize) => new ReferencePools(pagePoolSize),
}

/** The engine of this name (after `resolveEngine`). */
export function engineOf(name: EngineName): Engine {
  return name === 'native' ? native : reference
}

let fallbackWarned = false
const ENGINES: readonly EngineName[] = ['native', 'reference']

export function defaultEngine(): EngineName {
  const env = process.env.DRMSIM_ENGINE
  if (env === undefined || env === '') return 'native'
  if (env === 'native' || env === 'reference') return env
  throw new DrmError('EINVAL', `DRMSIM_ENGINE must be 'native' or 'reference', not ${describe(env)}`)
}

let nativeStatus: { ok: true } | { ok: false; error: Error } | undefined

/** Whether the native engine can be used here, and why not (the loader runs once per process). */
export function nativeAvailable(): { ok: true } | { ok: false; error: Error } {
  if (nativeStatus === undefined) {
    try {
      loadBinding()
      nativeStatus = { ok: true }
    } catch (error) {
      nativeStatus = { ok: false, error: error as Error }
    }
  }
  return nativeStatus
}

/** The platform as napi-rs names its binaries and platform packages: linux-x64-gnu, darwin-arm64, ... */
function platformName(): string {
  const base = `${process.platform}-${process.arch}`
  if (process.platform === 'win32') return `${base}-msvc`
  if (process.platform !== 'linux') return base
  try {
    const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } }
    return `${base}-${report.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
  } catch {
    return base
  }
}

/**
 * What actually failed, from the loader's error: napi-rs throws a generic
 * "Cannot find native binding" whose `cause` chain holds one error per
 * candidate it tried (the local binary, the platform package, WASI). A
 * candidate that exists but does not load (a dlopen error: wrong libc, glibc
 * too old, a damaged file) is the real error; otherwise every native
 * "Cannot find module" is, in the order tried.
 */
function loadErrorDetail(error: Error): string {
  const messages: string[] = []
  for (let e: unknown = error.cause; e instanceof Error && messages.length < 16; e = e.cause) {
    messages.unshift(e.message.split('\n')[0])
  }
  if (messages.length === 0) return error.message.split('\n')[0]
  // drmsim ships no WASI build: those candidates are tried, never there.
  const nonWasi = messages.filter((m) => !/wasi|wasm32/.test(m))
  const tried = nonWasi.length > 0 ? nonWasi : messages
  const failed = tried.filter((m) => !m.startsWith('Cannot find module'))
  return [...new Set(failed.length > 0 ? failed : tried)].join('; ')
}

/** The engine option of every constructor: undefined, 'native' or 'reference' (anything else EINVAL). */
export function resolveEngine(requested?: unknown): EngineName {
  if (requested !== undefined) oneOf(requested, ENGINES, 'engine')
  const explicit = (requested as EngineName | undefined) ?? (process.env.DRMSIM_ENGINE ? defaultEngine() : undefined)
  const engine = explicit ?? 'native'
  if (engine === 'reference') return engine
  const status = nativeAvailable()
  if (status.ok) return 'native'
  const detail = `no native binary loads on ${platformName()}: ${loadErrorDetail(status.error)}`
  if (explicit === 'native') {
    const error = new Error(`drmsim: the native engine was asked for, but ${detail}`, { cause: status.error })
    throw Object.assign(error, { code: 'DRMSIM_NO_NATIVE' })
  }
  if (!fallbackWarned) {
    fallbackWarned = true
    process.emitWarning(`drmsim: ${detail}; using the reference engine`, { code: 'DRMSIM_NO_NATIVE' })
  }
  return 'reference'
}
