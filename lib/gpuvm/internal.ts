/**
 * What the modules around `GpuVm` may reach of it: its hub and its engine
 * core. Asking here instead of gpuvm.ts keeps the imports free of circles
 * (gpuvm.ts sets the accessors once, in a static block).
 */
import { describe } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import type { VmCore } from '../contract/vm.js'
import type { GpuVm } from './gpuvm.js'
import type { VmHub } from './hub.js'

interface Access {
  hub(vm: GpuVm): VmHub | null
  core(vm: GpuVm): VmCore
  is(vm: unknown): vm is GpuVm
}

let access: Access | null = null

/** @internal Called once by `GpuVm`. */
export function setGpuVmAccess(a: Access): void {
  access = a
}

function gpuVmOf(vm: unknown): GpuVm {
  if (access === null || !access.is(vm)) throw new DrmError('EINVAL', `expected a GpuVm, got ${describe(vm)}`)
  return vm
}

/** The hub of a VA space of era drm_gpuvm-7.2 or later; EINVAL for the seed's era. */
export function hubOf(vm: unknown): VmHub {
  const v = gpuVmOf(vm)
  const hub = access!.hub(v)
  if (hub === null) {
    throw new DrmError(
      'EINVAL',
      `VA space '${v.name}' is a drm_gpuva_mgr (seed era): it has no vm_bo, lists or reservation`,
    )
  }
  return hub
}

/** The engine core of a VA space (for its device, which ties it to placement moves). */
export const coreOf = (vm: unknown): VmCore => access!.core(gpuVmOf(vm))
