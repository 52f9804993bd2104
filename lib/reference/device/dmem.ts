/**
 * The dmem cgroup controller (Linux 6.14's kernel/cgroup/dmem.c) and TTM's
 * use of it, a behavioural port of native/core/src/device/dmem.rs: page
 * counters per cgroup and registered region, charged when a buffer gets a
 * resource there; a refused charge evicts within the cgroup that hit its
 * max; the eviction walk skips victims under their effective min, and those
 * under their effective low until a second pass. 'proposed' adds the open
 * series where an allocation under its own protection evicts unprotected
 * buffers in the first pass, judged against the common ancestor.
 */
import { DrmError } from '../../base/errors.js'
import { placeAlloc } from './domain.js'
import { objectOf } from './objects.js'
import type { Place } from './placement.js'
import { type DevState, DOMAIN_NAMES, GTT, SYSTEM, U64_MAX, VRAM } from './state.js'

export const ROOT = 1
export const UPSTREAM = 0
export const PROPOSED = 1

export interface Counter {
  usage: bigint
  min: bigint
  low: bigint
  max: bigint
  maxHits: bigint
}

export interface Cgroup {
  parent: number
  name: string
  alive: boolean
  objects: number
  /** Index domain - 1. */
  counters: Counter[]
}

export interface Dmem {
  mode: number
  /** Bit `domain` set: registered. */
  regions: number
  cgroups: Cgroup[]
  /** Objects outside the root; a resource in a registered region is always charged to its object's cgroup. */
  owner: Map<number, number>
}

/** The cgroup state of one eviction (see DmemWalk in dmem.rs). */
export interface DmemWalk {
  limit: number | null
  held: number | null
  mayTryLow: boolean
  tryLow: boolean
  hitLow: boolean
}

const counter = (): Counter => ({ usage: 0n, min: 0n, low: 0n, max: U64_MAX, maxHits: 0n })
const cgroup = (parent: number, name: string): Cgroup => ({
  parent,
  name,
  alive: true,
  objects: 0,
  counters: [counter(), counter(), counter()],
})

export function newDmem(): Dmem {
  return { mode: UPSTREAM, regions: 1 << VRAM, cgroups: [cgroup(0, '')], owner: new Map() }
}

export const registered = (m: Dmem, domain: number): boolean => (m.regions & (1 << domain)) !== 0
const cnt = (m: Dmem, id: number, r: number): Counter => m.cgroups[id - 1].counters[r]
const parentOf = (m: Dmem, id: number): number => m.cgroups[id - 1].parent
const ownerOf = (m: Dmem, obj: number): number => m.owner.get(obj) ?? ROOT
const bmin = (a: bigint, b: bigint) => (a < b ? a : b)

export function liveCgroup(m: Dmem, id: number): Cgroup {
  const c = Number.isInteger(id) && id >= 1 ? m.cgroups[id - 1] : undefined
  if (c === undefined) throw new DrmError('EINVAL', `no cgroup ${id}`)
  if (!c.alive) throw new DrmError('EINVAL', `cgroup ${id} was destroyed`)
  return c
}

/** page_counter_try_charge up the tree: the refusing cgroup, or 0. */
function tryCharge(m: Dmem, cg: number, r: number, size: bigint): number {
  for (let c = cg; c !== 0; c = parentOf(m, c)) {
    const k = cnt(m, c, r)
    if (k.usage + size > k.max) {
      k.maxHits += 1n
      unchargeBelow(m, cg, c, r, size)
      return c
    }
    k.usage += size
  }
  return 0
}

function unchargeBelow(m: Dmem, cg: number, stop: number, r: number, size: bigint): void {
  for (let c = cg; c !== stop && c !== 0; c = parentOf(m, c)) {
    const k = cnt(m, c, r)
    k.usage = k.usage > size ? k.usage - size : 0n
  }
}

function isAncestor(m: Dmem, anc: number, c: number): boolean {
  for (let x = c; x !== 0; x = parentOf(m, x)) if (x === anc) return true
  return false
}

function commonAncestor(m: Dmem, a: number, b: number): number {
  let c = a
  while (!isAncestor(m, c, b)) c = parentOf(m, c)
  return c
}

/** effective_protection with recursive protection, exact. */
function effective(usage: bigint, parentUsage: bigint, setting: bigint, pe: bigint, sib: bigint): bigint {
  const prot = bmin(usage, setting)
  if (sib > pe) return (prot * pe) / sib
  let ep = prot
  if (pe > sib && parentUsage > sib && usage > prot) ep += ((pe - sib) * (usage - prot)) / (parentUsage - sib)
  return ep
}

/** Effective [min, low] of `test` below `limit`. */
export function protection(m: Dmem, limit: number, test: number, r: number): [bigint, bigint] {
  const path: number[] = []
  for (let c = test; c !== limit && c !== 0; c = parentOf(m, c)) path.push(c)
  let emin = 0n
  let elow = 0n
  for (let i = path.length - 1; i >= 0; i--) {
    const c = path[i]
    const k = cnt(m, c, r)
    const p = parentOf(m, c)
    if (p === limit) {
      emin = k.min
      elow = k.low
      continue
    }
    let smin = 0n
    let slow = 0n
    for (const s of m.cgroups) {
      if (s.parent !== p) continue
      const sk = s.counters[r]
      smin = bmin(smin + bmin(sk.usage, sk.min), U64_MAX)
      slow = bmin(slow + bmin(sk.usage, sk.low), U64_MAX)
    }
    const pu = cnt(m, p, r).usage
    emin = effective(k.usage, pu, k.min, emin, smin)
    elow = effective(k.usage, pu, k.low, elow, slow)
  }
  return [emin, elow]
}

function evictValuable(m: Dmem, limitIn: number | null, test: number, r: number, w: DmemWalk): boolean {
  if (limitIn === test) return true
  // A limit at the root (only the proposed common ancestor gives one) lets anything go.
  if (limitIn === ROOT) return true
  if (limitIn !== null && !isAncestor(m, limitIn, test)) return false
  const limit = limitIn ?? ROOT
  const used = cnt(m, test, r).usage
  if (used === 0n) return false
  const [emin, elow] = test === ROOT ? [0n, 0n] : protection(m, limit, test, r)
  if (used <= emin) return false
  if (!w.tryLow && used <= elow) {
    w.hitLow = true
    return false
  }
  return true
}

function below(m: Dmem, cg: number, r: number): [boolean, boolean] {
  if (cg === ROOT) return [false, false]
  const used = cnt(m, cg, r).usage
  const [emin, elow] = protection(m, ROOT, cg, r)
  return [used <= emin, used <= elow]
}

export function retryLow(w: DmemWalk): boolean {
  const again = w.hitLow && !w.tryLow && w.mayTryLow
  if (again) w.tryLow = true
  return again
}

export function resetLow(w: DmemWalk): void {
  w.tryLow = false
  w.hitLow = false
}

// ---- the device calls (dmem.rs's `impl Device`) ----

export function dmemSetup(d: DevState, mode: number, vram: boolean, gtt: boolean): void {
  if (mode !== UPSTREAM && mode !== PROPOSED) throw new DrmError('EINVAL', `dmem mode must be 0 or 1, got ${mode}`)
  if (d.dmem.cgroups.length > 1 || d.objects.size > 0) {
    throw new DrmError('EBUSY', 'dmem is set up before any cgroup or object exists')
  }
  for (const [on, dom] of [
    [vram, VRAM],
    [gtt, GTT],
  ] as const) {
    if (on && d.mem[dom - 1] === null) {
      throw new DrmError('EINVAL', `dmem: the device has no ${DOMAIN_NAMES[dom]} region to register`)
    }
  }
  d.dmem.mode = mode
  d.dmem.regions = (vram ? 1 << VRAM : 0) | (gtt ? 1 << GTT : 0)
}

export function cgroupCreate(d: DevState, parent: number, name: string): number {
  const m = d.dmem
  liveCgroup(m, parent)
  if (name.length === 0 || name.includes('/') || new TextEncoder().encode(name).length > 255) {
    throw new DrmError('EINVAL', `bad cgroup name ${JSON.stringify(name)}`)
  }
  if (m.cgroups.some((c) => c.alive && c.parent === parent && c.name === name)) {
    throw new DrmError('EEXIST', `cgroup ${parent} has a child ${JSON.stringify(name)}`)
  }
  m.cgroups.push(cgroup(parent, name))
  return m.cgroups.length
}

export function cgroupDestroy(d: DevState, id: number): void {
  const m = d.dmem
  const c = liveCgroup(m, id)
  if (id === ROOT) throw new DrmError('EINVAL', 'the root cgroup cannot be destroyed')
  const charged = c.counters.some((k) => k.usage > 0n)
  if (charged || c.objects > 0 || m.cgroups.some((s) => s.alive && s.parent === id)) {
    throw new DrmError('EBUSY', `cgroup ${id} has children, objects or charges`)
  }
  c.alive = false
}

export function cgroupSetLimit(d: DevState, id: number, domain: number, which: number, value: bigint): void {
  const m = d.dmem
  liveCgroup(m, id)
  if (id === ROOT) throw new DrmError('EINVAL', 'the root cgroup has no dmem limits')
  if (!registered(m, domain)) {
    throw new DrmError('EINVAL', `dmem: ${DOMAIN_NAMES[domain]} is not a registered region`)
  }
  const k = cnt(m, id, domain - 1)
  if (which === 0) k.min = value
  else if (which === 1) k.low = value
  else if (which === 2) {
    if (value < k.usage) throw new DrmError('EBUSY', `cgroup ${id} uses ${k.usage} bytes, above max ${value}`)
    k.max = value
  } else throw new DrmError('EINVAL', `a dmem limit is 0 (min), 1 (low) or 2 (max), got ${which}`)
}

export function cgroupStats(d: DevState, id: number, domain: number): [Cgroup, Counter, bigint, bigint] {
  const m = d.dmem
  const c = liveCgroup(m, id)
  const r = domain - 1
  const [emin, elow] = id === ROOT ? [0n, 0n] : protection(m, ROOT, id, r)
  return [c, c.counters[r], emin, elow]
}

export function cgroupAssign(d: DevState, obj: number, cg: number): void {
  const m = d.dmem
  liveCgroup(m, cg)
  const o = objectOf(d, obj)
  if ((registered(m, o.domain) && !o.purged) || m.owner.has(obj)) {
    throw new DrmError('EBUSY', `GEM object ${obj} is charged to a cgroup already`)
  }
  m.cgroups[ownerOf(m, obj) - 1].objects -= 1
  m.cgroups[cg - 1].objects += 1
  if (cg !== ROOT) m.owner.set(obj, cg)
}

export function objectCgroup(d: DevState, obj: number): number {
  objectOf(d, obj)
  return ownerOf(d.dmem, obj)
}

// ---- hooks (gem.ts, placement.ts) ----

export function dmemCreated(d: DevState): void {
  d.dmem.cgroups[0].objects += 1
}

/** The object's resource in `from` is gone (moved out, purged). */
export function dmemUncharge(d: DevState, id: number, size: bigint, from: number): void {
  const m = d.dmem
  if (registered(m, from)) unchargeBelow(m, ownerOf(m, id), 0, from - 1, size)
}

/**
 * The object was freed (its domain and purged flag still as they were). With
 * `keepCharge` (its range waits for fences: delayed destroy) the charge stays
 * until the range is freed (`ttm_resource_free`): the cgroup to uncharge then
 * is returned, or null when there is nothing charged.
 */
export function dmemFreed(d: DevState, id: number, keepCharge = false): number | null {
  const m = d.dmem
  const o = d.objects.get(id)
  const owner = ownerOf(m, id)
  let kept: number | null = null
  if (o !== undefined && !o.purged) {
    if (!keepCharge) dmemUncharge(d, id, o.size, o.domain)
    else if (registered(m, o.domain)) kept = owner
  }
  m.owner.delete(id)
  m.cgroups[owner - 1].objects -= 1
  return kept
}

/** A delayed destroy's range is freed: its charge goes with it. */
export function dmemUnchargeCgroup(d: DevState, cg: number, size: bigint, from: number): void {
  unchargeBelow(d.dmem, cg, 0, from - 1, size)
}

export type TryPlace = { kind: 'placed'; node: bigint | null } | { kind: 'evict'; walk: DmemWalk } | { kind: 'skip' }

/** Charge, then a range, for one place (dmem_try_place in dmem.rs). */
export function dmemTryPlace(d: DevState, id: number, size: bigint, p: Place, evicting: boolean): TryPlace {
  const m = d.dmem
  const mayEvict = evicting && p.domain !== SYSTEM
  const w: DmemWalk = { limit: null, held: null, mayTryLow: true, tryLow: false, hitLow: false }
  const r = p.domain - 1
  const reg = registered(m, p.domain)
  const cg = reg ? ownerOf(m, id) : ROOT
  if (reg) {
    const limit = tryCharge(m, cg, r, size)
    if (limit !== 0) {
      if (!mayEvict) return { kind: 'skip' }
      w.limit = limit
      return { kind: 'evict', walk: w }
    }
  }
  let evict = mayEvict
  if (reg && m.mode === PROPOSED) {
    const [belowMin, belowLow] = below(m, cg, r)
    w.held = cg
    w.mayTryLow = mayEvict || belowMin
    evict = w.mayTryLow || belowLow
  }
  try {
    return { kind: 'placed', node: placeAlloc(d, p, size) }
  } catch (e) {
    const enospc = e instanceof DrmError && e.errno === 'ENOSPC'
    if (!enospc || !evict || w.held === null) {
      if (reg) unchargeBelow(m, cg, 0, r, size)
      w.held = null
    }
    if (!enospc) throw e
    return evict ? { kind: 'evict', walk: w } : { kind: 'skip' }
  }
}

export function dmemWalkFailed(d: DevState, id: number, p: Place, w: DmemWalk): void {
  if (w.held !== null) unchargeBelow(d.dmem, w.held, 0, p.domain - 1, d.objects.get(id)?.size ?? 0n)
}

/** The evictor's allocation after each eviction (EAGAIN upstream when its charge is refused). */
export function dmemWalkAlloc(d: DevState, id: number, size: bigint, p: Place, w: DmemWalk): bigint | null {
  const m = d.dmem
  const r = p.domain - 1
  const charge = registered(m, p.domain) && w.held === null
  const cg = charge ? ownerOf(m, id) : ROOT
  if (charge && tryCharge(m, cg, r, size) !== 0) {
    const errno = m.mode === UPSTREAM ? 'EAGAIN' : 'ENOSPC'
    throw new DrmError(errno, `dmem: cgroup ${cg} is at its max in ${DOMAIN_NAMES[p.domain]}`)
  }
  try {
    return placeAlloc(d, p, size)
  } catch (e) {
    if (charge) unchargeBelow(m, cg, 0, r, size)
    throw e
  }
}

/** May `victim` be evicted from `domain` (protection, the limit's subtree)? */
export function dmemEvictable(d: DevState, victim: number, domain: number, w: DmemWalk): boolean {
  const m = d.dmem
  if (m.cgroups.length === 1 || !registered(m, domain)) return true
  // On the domain's LRU: resident there, so charged to its cgroup.
  const test = ownerOf(m, victim)
  // Proposed, first pass: never the allocating cgroup's own buffers.
  if (!w.mayTryLow && w.held === test) return false
  const limit = w.limit ?? (w.held === null ? null : commonAncestor(m, test, w.held))
  return evictValuable(m, limit, test, domain - 1, w)
}
