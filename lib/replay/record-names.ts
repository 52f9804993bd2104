/**
 * The names a `Recorder` (record.ts) gives its handles in the file: the name
 * asked for, or the next free `vm1`, `bo1`, `ctx1`, `exec1`, ...; a name is
 * taken while its handle lives and free again once it is destroyed, as in the
 * replay.
 */
import { DrmError } from '../base/errors.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { GemObject } from '../device/gem.js'
import type { RecorderHandle } from './record.js'

type Kind = 'vm' | 'obj' | 'ctx' | 'exec'

/** @internal One per `Recorder`. */
export class HandleNames {
  readonly #names = new WeakMap<RecorderHandle, string>()
  readonly #live = new Map<string, RecorderHandle>()
  readonly #next = { vm: 0, obj: 0, ctx: 0, exec: 0 }

  /** The name a handle has in the file (destroyed ones too, while reachable). */
  nameOf(handle: RecorderHandle): string | undefined {
    return this.#names.get(handle)
  }

  has(handle: RecorderHandle): boolean {
    return this.#names.has(handle)
  }

  /** Frees the name of a handle destroyed. */
  drop(kind: Kind, name: string): void {
    this.#live.delete(`${kind}:${name}`)
  }

  /** Frees the name of a VM torn down, if it still holds it. */
  dropVm(vm: GpuVm): void {
    const name = this.#names.get(vm)
    if (name !== undefined && this.#live.get(`vm:${name}`) === vm) this.#live.delete(`vm:${name}`)
  }

  /** The recorded drm_gpuvm whose reservation object is `obj`, if any. */
  vmOfResv(obj: GemObject): GpuVm | undefined {
    for (const [key, h] of this.#live) {
      if (key.startsWith('vm:') && (h as GpuVm).resvObject === obj) return h as GpuVm
    }
    return undefined
  }

  /** The name asked for (checked, and not alive already), or the next free one. */
  fresh(kind: Kind, name: string | undefined): string {
    let n = name
    if (n === undefined) {
      const prefix = kind === 'obj' ? 'bo' : kind
      do n = `${prefix}${++this.#next[kind]}`
      while (this.#live.has(`${kind}:${n}`))
    }
    if (typeof n !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(n))
      throw new DrmError('EINVAL', `Recorder: a ${kind} name is 1 to 128 printable ASCII characters, no spaces`)
    if (this.#live.has(`${kind}:${n}`)) throw new DrmError('EINVAL', `Recorder: ${kind} ${n} is alive already`)
    return n
  }

  /** Gives `handle` its name, taken until dropped. */
  named<T extends RecorderHandle>(handle: T, kind: string, name: string): T {
    this.#names.set(handle, name)
    this.#live.set(`${kind}:${name}`, handle)
    return handle
  }

  /** The name of a live handle of this kind; EINVAL for any other value. */
  name(handle: RecorderHandle, kind: string, what: string): string {
    const name = this.#names.get(handle)
    if (name === undefined || this.#live.get(`${kind}:${name}`) !== handle)
      throw new DrmError('EINVAL', `Recorder: not ${what} made by this recorder (or destroyed)`)
    return name
  }
}
