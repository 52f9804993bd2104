/**
 * What a `GpuVm` (gpuvm.ts) is made with and asked for: its options (read
 * here: every option checked, the era and the engine settled, the device's
 * reservation object found or made, before the VA space is created), map
 * requests and step callbacks.
 */
import { describe, readArgument, u64 } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import type { EngineName } from '../contract/vm.js'
import { ERA_GPUVM, ERA_SEED, ERAS, type EraName } from '../contract/hub.js'
import { resolveEngine } from '../engines.js'
import { isDevice } from '../device/brand.js'
import type { Device } from '../device/device.js'
import { GemObject as GemObjectClass, type GemObject } from '../device/gem.js'
import type { GpuVm } from './gpuvm.js'
import { driverOps, type GpuVmDriverOps, vmFlags } from './hub.js'
import type { MapOp, RemapOp, UnmapOp } from './ops.js'
import { type PageTableProfile, type PageTableProfileName, readPageTableProfile } from './page-table.js'

export interface GpuVmOptions {
  /** Shown in messages; "unknown" when empty, as in the kernel. */
  name?: string
  /** First address of the VA space (default 0). */
  start?: bigint
  /** Size of the VA space. */
  range: bigint
  /** The kernel-reserved node, if any. */
  reserve?: { offset: bigint; range: bigint } | null
  /** 'native' (default, or DRMSIM_ENGINE) or 'reference'. */
  engine?: EngineName
  /** Throw a DrmWarning where the kernel would WARN, instead of recording it. */
  strict?: boolean
  /**
   * Makes a drm_gpuvm on this device: a VM-wide reservation, vm_bos, the
   * extobj/evict lists, and placement moves marking its vm_bos evicted. The
   * engine is the device's.
   */
  device?: Device
  /**
   * The kernel era (see the README's era table): 'drm_gpuva_mgr-6.6' (the
   * seed; the default without a device), 'drm_gpuvm-7.2' (the default with
   * one) or 'drm_gpuvm-next'.
   */
  era?: EraName
  /** `DRM_GPUVM_RESV_PROTECTED`: the extobj and evict lists are protected by the VM's reservation. */
  resvProtected?: boolean
  /** `DRM_GPUVM_IMMEDIATE_MODE`: binds run in the fence-signalling path; unlinks and puts may be deferred. */
  immediateMode?: boolean
  /**
   * The object whose reservation is the VM's (`r_obj`), which private objects
   * share. By default a new empty object of the device
   * (`drm_gpuvm_resv_object_alloc`).
   */
  resvObject?: GemObject
  /** The driver's callbacks (`struct drm_gpuvm_ops`). */
  ops?: GpuVmDriverOps
  /**
   * A page-table cost model (a model drmsim adds, issue 15): a built-in
   * profile's name ('xe', 'panthor', 'nouveau') or a profile; see `pageTable`.
   */
  pageTable?: PageTableProfileName | PageTableProfile
}

/** A mapping to create: `obj` null or absent makes a sparse/null mapping. */
export interface MapRequest {
  addr: bigint
  range: bigint
  obj?: GemObject | null
  offset?: bigint
}

/**
 * Step callbacks for `smMap` / `smUnmap` (`struct drm_gpuva_fn_ops`). Each
 * may apply its step at once (`vm.apply(op)`), as drivers do; throwing stops
 * the walk, and the steps already applied stay applied.
 */
export interface StepCallbacks {
  map?(op: MapOp, vm: GpuVm): void
  remap?(op: RemapOp, vm: GpuVm): void
  unmap?(op: UnmapOp, vm: GpuVm): void
}

/** @internal The options of a new `GpuVm`, checked. */
export function readGpuVmOptions(options: GpuVmOptions) {
  if (typeof options !== 'object' || options === null) {
    throw new DrmError('EINVAL', `GpuVm options must be an object, got ${describe(options)}`)
  }
  const o = readArgument('GpuVm options', () => {
    const name = options.name ?? ''
    if (typeof name !== 'string') throw new DrmError('EINVAL', `name must be a string, got ${describe(name)}`)
    const reserve = options.reserve
    return {
      name,
      start: u64(options.start ?? 0n, 'start'),
      range: u64(options.range, 'range'),
      reserve: reserve
        ? { offset: u64(reserve.offset, 'reserve.offset'), range: u64(reserve.range, 'reserve.range') }
        : undefined,
      strict: options.strict === true,
      engine: options.engine,
      device: hubDevice(options.device),
      era: options.era,
      flags: vmFlags(options.resvProtected, options.immediateMode),
      resvObject: options.resvObject,
      ops: driverOps(options.ops),
      pageTable: options.pageTable === undefined ? undefined : readPageTableProfile(options.pageTable),
    }
  })
  const { device } = o
  const eraName = o.era === undefined ? ERAS[device ? ERA_GPUVM : ERA_SEED] : oneOfEras(o.era)
  const era = ERAS.indexOf(eraName)
  if (device && era === ERA_SEED) throw new DrmError('EINVAL', 'a drm_gpuva_mgr (seed era) VA space has no device')
  if (o.flags !== 0 && era === ERA_SEED) throw new DrmError('EINVAL', 'VM flags need era drm_gpuvm-7.2 or later')
  if (device && o.engine !== undefined && resolveEngine(o.engine) !== device.engine) {
    throw new DrmError('EINVAL', `engine ${o.engine} differs from the device's (${device.engine})`)
  }
  const engine: EngineName = device ? device.engine : resolveEngine(o.engine)
  const resvObj = device ? resvObject(device, o.resvObject) : null
  return { ...o, eraName, era, engine, resvObj }
}

/** The `device` option: a Device, or undefined. */
function hubDevice(device: unknown): Device | null {
  if (device === undefined) return null
  if (!isDevice(device)) throw new DrmError('EINVAL', `device must be a Device, got ${describe(device)}`)
  return device
}

function oneOfEras(era: unknown): EraName {
  if (typeof era !== 'string' || !(ERAS as readonly string[]).includes(era)) {
    throw new DrmError('EINVAL', `era must be one of ${ERAS.join(', ')}, got ${describe(era)}`)
  }
  return era as EraName
}

/** The VM's reservation object: the one given (of the device), else a new empty one. */
function resvObject(device: Device, given: unknown): GemObject {
  if (given === undefined) return device.createObject({ size: 0n })
  if (!GemObjectClass.isGemObject(given) || !given.isDeviceObject || given.device !== device) {
    throw new DrmError('EINVAL', `resvObject must be a GEM object of the device, got ${describe(given)}`)
  }
  return given
}
