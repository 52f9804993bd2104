/**
 * The dmem cgroup controller (Linux 6.14, kernel/cgroup/dmem.c) on a
 * simulated device: a cgroup tree whose page counters per region (VRAM, and
 * GTT when registered) limit (`max`) and protect (`min`, `low`) the buffers
 * created in each cgroup. The rules live in the engines (dmem.rs, dmem.ts);
 * this file checks input and names things.
 *
 * `mode: 'upstream'` is what the kernel merged; `'proposed'` is the open
 * series where an allocation under its own protection evicts unprotected
 * buffers instead of falling back to GTT, judging each victim against the
 * common ancestor of the two cgroups.
 */
import type { Device } from './device.js'
import type { GemObject } from './gem.js'
import { ownObject } from './placement.js'
import { CGROUP_ROOT, type CgroupRecord, DMEM_MODES, type DmemModeName } from '../contract/dmem.js'
import { DOMAINS } from '../contract/device.js'
import { invalid, list, oneOf, options, string, u64 } from '../base/check.js'

export type DmemRegion = 'vram' | 'gtt'
const REGIONS: readonly DmemRegion[] = ['vram', 'gtt']
const U64_MAX = (1n << 64n) - 1n

export interface DmemOptions {
  /** 'upstream' (default): merged behaviour; 'proposed': the open aggressive-protection series. */
  mode?: DmemModeName
  /** Regions the driver registers (default ['vram'], as amdgpu and Xe do). */
  regions?: readonly DmemRegion[]
}

/** `dmem.min`, `dmem.low`, `dmem.max` of one region, in bytes ('max': no limit). */
export interface CgroupLimits {
  min?: bigint
  low?: bigint
  max?: bigint | 'max'
}

export interface CgroupStats {
  /** Bytes charged (`dmem.current`), children included. */
  usage: bigint
  min: bigint
  low: bigint
  max: bigint | 'max'
  /** Charges refused by its max. */
  maxHits: bigint
  /** Effective protection as the root sees it (page_counter's emin / elow). */
  emin: bigint
  elow: bigint
}

export interface CreateCgroupOptions {
  name: string
  /** Default: the root. */
  parent?: Cgroup
}

/** One cgroup of a device's dmem controller. */
export class Cgroup {
  readonly #id: number

  constructor(
    readonly device: Device,
    id: number,
    readonly name: string,
    readonly parent: Cgroup | null,
  ) {
    this.#id = id
  }

  static isCgroup(v: unknown): v is Cgroup {
    return typeof v === 'object' && v !== null && #id in v
  }

  /** The engine's id (1 = root). */
  get id(): number {
    return this.#id
  }

  get path(): string {
    return this.parent === null ? '/' : `${this.parent.parent === null ? '' : this.parent.path}/${this.name}`
  }

  /**
   * Sets limits of one region; each is checked before any is set. EINVAL on
   * the root or an unregistered region, EBUSY for a max under the usage.
   */
  setLimits(region: DmemRegion, limits: CgroupLimits): void {
    const d = DOMAINS.indexOf(oneOf(region, REGIONS, 'region'))
    const o = options<CgroupLimits>(limits, 'limits')
    const values: [number, bigint][] = []
    // max first: the only one that can be refused once checked.
    if (o.max !== undefined) values.push([2, o.max === 'max' ? U64_MAX : u64(o.max, 'limits.max')])
    if (o.min !== undefined) values.push([0, u64(o.min, 'limits.min')])
    if (o.low !== undefined) values.push([1, u64(o.low, 'limits.low')])
    const core = this.device.core
    this.device.run(() => {
      for (const [which, v] of values) core.cgroupSetLimit(this.#id, d, which, v)
    })
  }

  stats(region: DmemRegion): CgroupStats {
    const d = DOMAINS.indexOf(oneOf(region, REGIONS, 'region'))
    const r: CgroupRecord = this.device.run(() => this.device.core.cgroupInfo(this.#id, d))
    return {
      usage: r.usage,
      min: r.min,
      low: r.low,
      max: r.max === U64_MAX ? 'max' : r.max,
      maxHits: r.maxHits,
      emin: r.emin,
      elow: r.elow,
    }
  }

  /** rmdir: EBUSY while it has children, objects or charges. */
  destroy(): void {
    this.device.run(() => this.device.core.cgroupDestroy(this.#id))
  }

  toString(): string {
    return `Cgroup(${this.path})`
  }
}

/** A device's dmem controller: its mode, regions and root cgroup. */
export class Dmem {
  readonly mode: DmemModeName
  readonly regions: readonly DmemRegion[]
  readonly root: Cgroup
  readonly #byId = new Map<number, Cgroup>()

  constructor(
    readonly device: Device,
    opts: unknown,
  ) {
    const o = options<DmemOptions>(opts, 'dmem', true)
    this.mode = o.mode === undefined ? 'upstream' : oneOf(o.mode, DMEM_MODES, 'dmem.mode')
    const regions = o.regions === undefined ? ['vram' as const] : list(o.regions, 'dmem.regions')
    this.regions = Object.freeze([...new Set(regions.map((r, i) => oneOf(r, REGIONS, `dmem.regions[${i}]`)))])
    const mode = DMEM_MODES.indexOf(this.mode)
    device.core.dmemSetup(mode, this.regions.includes('vram'), this.regions.includes('gtt'))
    this.root = new Cgroup(device, CGROUP_ROOT, '', null)
    this.#byId.set(CGROUP_ROOT, this.root)
  }

  /** A child cgroup (of the root by default); EEXIST for a live sibling of that name. */
  createCgroup(opts: CreateCgroupOptions): Cgroup {
    const o = options<CreateCgroupOptions>(opts, 'createCgroup options')
    const name = string(o.name, 'name')
    const parent = o.parent === undefined ? this.root : this.cgroup(o.parent, 'parent')
    const id = this.device.run(() => this.device.core.cgroupCreate(parent.id, name))
    const cg = new Cgroup(this.device, id, name, parent)
    this.#byId.set(id, cg)
    return cg
  }

  /** The cgroup `obj` (a GEM object of this device) is charged to. */
  cgroupOf(obj: GemObject): Cgroup {
    const o = ownObject(this.device, obj)
    const id = this.device.run(() => this.device.core.objectCgroup(o.id))
    return this.#byId.get(id) ?? this.root
  }

  /** `cg` as a cgroup of this device (EINVAL otherwise; the engine refuses a destroyed one). */
  cgroup(cg: unknown, what = 'cgroup'): Cgroup {
    if (!Cgroup.isCgroup(cg) || cg.device !== this.device) throw invalid(what, 'a Cgroup of this device', cg)
    return cg
  }
}
