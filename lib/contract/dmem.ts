/**
 * The dmem cgroup controller's part of the device contract (issue 16):
 * native/core/src/device/dmem.rs and lib/reference/device/dmem.ts. Cgroup ids
 * are dense (1 = root), never reused; limits and counters are bytes.
 */

/** 'upstream': merged in Linux 6.14; 'proposed': the open "aggressive protection" series. */
export const DMEM_MODES = ['upstream', 'proposed'] as const
export type DmemModeName = (typeof DMEM_MODES)[number]
/** The limit files, in the order the engines number them. */
export const DMEM_LIMITS = ['min', 'low', 'max'] as const
export type DmemLimitName = (typeof DMEM_LIMITS)[number]
export const CGROUP_ROOT = 1

/** One cgroup in one region: its page counter and its effective protection from the root. */
export interface CgroupRecord {
  parent: number
  name: string
  usage: bigint
  min: bigint
  low: bigint
  /** 2^64 - 1: no limit. */
  max: bigint
  /** Charges its max refused. */
  maxHits: bigint
  emin: bigint
  elow: bigint
}

export interface DmemCore {
  /** Mode (index in DMEM_MODES) and registered regions; EBUSY once a cgroup or object exists. */
  dmemSetup(mode: number, vram: boolean, gtt: boolean): void
  cgroupCreate(parent: number, name: string): number
  /** EBUSY while it has live children, objects or charges. */
  cgroupDestroy(id: number): void
  /** `which` indexes DMEM_LIMITS; EBUSY for a max below the usage. */
  cgroupSetLimit(id: number, domain: number, which: number, value: bigint): void
  cgroupInfo(id: number, domain: number): CgroupRecord
  /** Puts a new object (no charge yet) in a cgroup. */
  cgroupAssign(obj: number, cg: number): void
  objectCgroup(obj: number): number
}
