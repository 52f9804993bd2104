/**
 * The state of a reference device and the helpers every part uses. Ids of
 * resvs, contexts and fences are dense (index + 1), as in the Rust core, so
 * both engines hand out the same ones.
 */
import type { TtPool } from './tt-pool.js'
import type { MoveRecord, ViolationRecord } from '../../contract/device.js'
import type { CopyEngine } from './copy.js'
import type { MemDomain } from './domain.js'
import type { Dmem } from './dmem.js'
import type { Place } from './placement.js'
import { type ObjPressure, Pressure } from './pressure.js'
import { DrmError } from '../../base/errors.js'
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
  /** 0, or the negative errno it signals with. */
  error: number
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
  /** Start of its range in its domain's allocator; null when empty or purged. */
  node: bigint | null
  /** No backing store anywhere until validated again. */
  purged: boolean
  /** Has pages (was placed outside SYSTEM): VRAM <-> SYSTEM then bounces through GTT. */
  populated: boolean
  /** Position on its domain's LRU; null while pinned or purged. */
  lru: number | null
  /** Where eviction sends it; null: the default for its domain. */
  evictPlacement: Place[] | null
  /** Priority, tags, bulk move, purgeable and swap state (pressure.ts). */
  pressure: ObjPressure
}

/** A VA space tied to the device (`attachVm`): told of every placement move. */
export interface MoveListener {
  readonly destroyed: boolean
  objectMoved(obj: number, evicted: boolean): void
}

export const WAIT_DIE = 0
export const WOUND_WAIT = 1
export const PROFILE_2019 = 0
export const PROFILE_2024 = 1
export const PROFILE_SHMEM = 2
export const SYSTEM = 1
export const GTT = 2
export const VRAM = 3
export const DOMAIN_NAMES = ['current', 'system', 'gtt', 'vram', 'priv0', 'priv1', 'priv2', 'priv3', 'priv4', 'priv5']

export class DevState {
  readonly objects = new Map<number, Obj>()
  readonly resvs: ResvState[] = []
  readonly ctxs: Ctx[] = []
  readonly fences: FenceState[] = []
  stamp = 0n
  now = 0n
  violations: ViolationRecord[] = []
  /** Index 0 SYSTEM, 1 GTT, 2 VRAM, 3.. private types; null for a missing manager. */
  mem: (MemDomain | null)[] = []
  /** Multihop rules: from, to, via triples (ttm-res). */
  hops: number[] = []
  lruSeq = 0
  /** Objects of each resv, in id order: unlocking bumps them all. */
  readonly resvUsers = new Map<number, number[]>()
  moves: MoveRecord[] = []
  trackMoves = false
  readonly totals = { bytesMoved: 0n, evictions: 0n, moves: 0n }
  /** The attached VA spaces, in attach order; destroyed ones are dropped at the next move. */
  vms: MoveListener[] = []
  /** The copy engine (issue 16); null: moves are instant. */
  copy: CopyEngine | null = null
  /** dmem cgroups and their charges (dmem.ts); set by the device. */
  dmem!: Dmem
  /** ttm-lru: bulk moves, eviction policy, swap (pressure.ts). */
  readonly pressure = new Pressure()
  /** ttm-pool: the page pool tts come from (tt-pool.ts); null: not modelled. */
  ttPool: TtPool | null = null

  constructor(readonly wwClass: number) {}

  /** Tells each attached, live VA space that `obj` moved (or was purged). */
  moved(obj: number, evicted: boolean): void {
    if (this.vms.length === 0) return
    if (this.vms.some((vm) => vm.destroyed)) this.vms = this.vms.filter((vm) => !vm.destroyed)
    for (const vm of this.vms) vm.objectMoved(obj, evicted)
  }

  violate(kind: ViolationKind, object: number, message: string): void {
    this.violations.push({ kind, object, message, rule: RULES[kind] })
  }
}

/** Index of a dense id (1-based), or EINVAL naming what it is. */
export function slot(id: number, len: number, what: string): number {
  if (id === 0 || id - 1 >= len) throw new DrmError('EINVAL', `no ${what} with id ${id}`)
  return id - 1
}
