/**
 * The state of a reference device and the helpers every part uses. Ids of
 * resvs, contexts and fences are dense (index + 1), as in the Rust core, so
 * both engines hand out the same ones.
 */
import type { ViolationRecord } from '../../device-engine.js'
import { DrmError } from '../../errors.js'
import { RULES, type ViolationKind } from './violation.js'

export const U32_MAX = 0xffff_ffff
export const U64_MAX = (1n << 64n) - 1n

export interface Holder {
  thread: number
  /** null without a context. */
  ctx: number | null
}

export interface Ctx {
  thread: number
  stamp: bigint
  acquired: number
  /** The lock that made this context die, until it is locked again. */
  contending: number | null
  wounded: boolean
  done: boolean
  fini: boolean
}

export interface ResvState {
  owner: number
  holder: Holder | null
  /** [fence id, usage] in insertion order. */
  fences: [number, number][]
  maxFences: number
}

export interface FenceState {
  context: number
  seqno: number
  signalAt: bigint | null
  signaled: boolean
}

export interface Obj {
  size: bigint
  refcount: number
  resv: number
  ownResv: boolean
  profile: number
  pinCount: number
  /** 0 when not pinned. */
  pinDomain: number
  vmapCount: number
  domain: number
  generation: bigint
  freed: boolean
}

export const WAIT_DIE = 0
export const WOUND_WAIT = 1
export const PROFILE_2019 = 0
export const PROFILE_2024 = 1
export const PROFILE_SHMEM = 2
export const SYSTEM = 1
export const VRAM = 3
export const DOMAIN_NAMES = ['current', 'system', 'gtt', 'vram']

export class DevState {
  readonly objects = new Map<number, Obj>()
  readonly resvs: ResvState[] = []
  readonly ctxs: Ctx[] = []
  readonly fences: FenceState[] = []
  stamp = 0n
  now = 0n
  violations: ViolationRecord[] = []

  constructor(readonly wwClass: number) {}

  violate(kind: ViolationKind, object: number, message: string): void {
    this.violations.push({ kind, object, message, rule: RULES[kind] })
  }
}

/** Index of a dense id (1-based), or EINVAL naming what it is. */
export function slot(id: number, len: number, what: string): number {
  if (id === 0 || id - 1 >= len) throw new DrmError('EINVAL', `no ${what} with id ${id}`)
  return id - 1
}
