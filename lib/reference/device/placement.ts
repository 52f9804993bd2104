/**
 * Placement, validation and eviction (native/core/src/device/placement.rs):
 * two passes over the places (FALLBACK skipped first, DESIRED second), an
 * LRU walk that trylocks victims and then ticket-locks one per walk, victims
 * moved to their own eviction placement or purged, ENOSPC reported as ENOMEM.
 */
import type { ValidateRecord } from '../../contract/device.js'
import { DrmError } from '../../base/errors.js'
import { copyBufferBusy, copyMove, copyPlaceBusy, copyVictimBusy } from './copy.js'
import { domainFree, MAX_TYPES, memOf } from './domain.js'
import {
  type DmemWalk,
  dmemEvictable,
  dmemTryPlace,
  dmemUncharge,
  dmemWalkAlloc,
  dmemWalkFailed,
  resetLow,
  retryLow,
} from './dmem.js'
import { type Place, PL_DESIRED, PL_FALLBACK, PL_TEMPORARY, PL_TOPDOWN } from './manager.js'
import { resCompatible, resIntersects, resTemporary } from './resource.js'
import { objectOf, relocate } from './objects.js'
import { cursor, lruNext, lruRemove, lruTouch } from './lru.js'
import { evictionValuable } from './hooks.js'
import { swapAlloc, swapForget, swapIn } from './swap.js'
import { ttAfterMove, ttUnpopulate } from './tt-pool.js'
import { heldBy, lock, resvOf, unlockResv } from './resv.js'
import { type DevState, DOMAIN_NAMES, GTT, PROFILE_SHMEM, SYSTEM, U64_MAX, VRAM } from './state.js'

export { type Place, PL_DESIRED, PL_FALLBACK, PL_TOPDOWN } from './manager.js'
const PL_KNOWN = 0x1f
const MAX_EVICT_DEPTH = 8
const TRY = 2
const NORMAL = 0

/** The binding's packing, three numbers per place: `domain | flags << 8`, fpfn, lpfn. */
export function decodePlacement(v: number[]): Place[] {
  if (v.length % 3 !== 0) throw new DrmError('EINVAL', `a placement is three numbers per place, got ${v.length}`)
  const out: Place[] = []
  for (let i = 0; i < v.length; i += 3) {
    const [head, fpfn, lpfn] = [v[i] >>> 0, v[i + 1] >>> 0, v[i + 2] >>> 0]
    const domain = head & 0xff
    if (domain < 1 || domain > MAX_TYPES) {
      throw new DrmError('EINVAL', `a place needs a memory type 1..${MAX_TYPES}, got ${domain}`)
    }
    const flags = head >>> 8
    if ((flags & ~PL_KNOWN) !== 0) throw new DrmError('EINVAL', `unknown place flags 0x${flags.toString(16)}`)
    if (lpfn !== 0 && fpfn >= lpfn) {
      throw new DrmError('EINVAL', `place window fpfn ${fpfn} must be below lpfn ${lpfn}`)
    }
    out.push({ domain, flags, fpfn, lpfn })
  }
  return out
}

export const encodePlace = (p: Place): number[] => [(p.domain | (p.flags << 8)) >>> 0, p.fpfn ?? 0, p.lpfn ?? 0]

const enospc = (e: unknown) => e instanceof DrmError && e.errno === 'ENOSPC'
const sat = (x: bigint) => (x > U64_MAX ? U64_MAX : x)

export interface Stats {
  moved: boolean
  bytesMoved: bigint
  evictions: number
}

export function validate(d: DevState, thread: number, id: number, placement: Place[]): ValidateRecord {
  const resv = objectOf(d, id).resv
  if (!heldBy(d, resv, thread)) {
    const msg = `validate of GEM object ${id} without its reservation lock (thread ${thread})`
    d.violate('validate-unlocked', id, msg)
    throw new DrmError('EINVAL', msg)
  }
  const st: Stats = { moved: false, bytesMoved: 0n, evictions: 0 }
  place(d, thread, id, placement, st)
  return st
}

export function evictPlacement(d: DevState, id: number): Place[] {
  const o = objectOf(d, id)
  if (o.evictPlacement !== null) return o.evictPlacement.map((p) => ({ ...p }))
  if (o.domain === VRAM) {
    return [
      { domain: GTT, flags: PL_DESIRED },
      { domain: SYSTEM, flags: PL_FALLBACK },
    ]
  }
  return [{ domain: SYSTEM, flags: 0 }]
}

const pinnedError = (id: number, at: number) =>
  new DrmError('EINVAL', `GEM object ${id} is pinned in ${DOMAIN_NAMES[at]}`)

/** `ttm_bo_validate` past the lock check; pin and move use it too. */
export function place(d: DevState, thread: number, id: number, placement: Place[], st: Stats): void {
  const o = objectOf(d, id)
  const at = o.domain
  if (placement.length === 0) {
    if (o.pinCount > 0) throw pinnedError(id, at)
    if (!o.purged) purge(d, id, false, st)
    return
  }
  for (const evicting of [false, true]) {
    if (compatible(d, id, placement, evicting)) return
    if (objectOf(d, id).pinCount > 0) throw pinnedError(id, at)
    if (copyBufferBusy(d, id)) throw new DrmError('EBUSY', `no_wait_gpu: GEM object ${id} is busy`)
    let r: [number, bigint | null]
    try {
      r = allocResource(d, thread, id, placement, evicting, 0, st)
    } catch (e) {
      if (enospc(e)) continue
      throw e
    }
    moveHops(d, thread, id, r[0], r[1], false, 0, st)
    return
  }
  throw new DrmError('ENOMEM', `no room for GEM object ${id} (${o.size} bytes) in its placement`)
}

/** `ttm_resource_compatible`: a place of this pass the resource satisfies (type, window, contiguity; never TEMPORARY). */
function compatible(d: DevState, id: number, placement: Place[], evicting: boolean): boolean {
  const o = objectOf(d, id)
  if (o.purged || o.pressure.swapped || resTemporary(d, id)) return false
  return placement.some(
    (p) =>
      p.domain === o.domain &&
      !(evicting && (p.flags & PL_DESIRED) !== 0) &&
      !(!evicting && (p.flags & PL_FALLBACK) !== 0) &&
      resCompatible(d, id, p),
  )
}

function allocResource(
  d: DevState,
  thread: number,
  id: number,
  placement: Place[],
  evicting: boolean,
  depth: number,
  st: Stats,
): [number, bigint | null] {
  const o = objectOf(d, id)
  const shmem = o.profile === PROFILE_SHMEM
  for (const p of placement) {
    if (memOf(d, p.domain) === null || (shmem && p.domain !== SYSTEM)) continue
    if ((evicting && (p.flags & PL_DESIRED) !== 0) || (!evicting && (p.flags & PL_FALLBACK) !== 0)) continue
    // dmem: the cgroup charge first, then the range (dmem.ts).
    const t = dmemTryPlace(d, id, o.size, p, evicting)
    if (t.kind === 'skip') {
      // ttm-lru: a full SYSTEM purges and swaps out when a shrinker is set (swap.ts).
      if (evicting && p.domain === SYSTEM) {
        const n = swapAlloc(d, o.size, (p.flags & PL_TOPDOWN) !== 0)
        if (n !== undefined) return [p.domain, n]
      }
      continue
    }
    let n: bigint | null
    if (t.kind === 'placed') n = t.node
    else {
      try {
        n = evictAlloc(d, thread, id, p, depth, t.walk, st)
      } catch (e) {
        dmemWalkFailed(d, id, p, t.walk)
        if (e instanceof DrmError && e.errno === 'EBUSY') continue
        throw e
      }
    }
    // Time: no_wait_gpu does not wait for the domain's last eviction (copy.ts).
    if (copyPlaceBusy(d, p.domain, n)) {
      dmemUncharge(d, id, o.size, p.domain)
      continue
    }
    return [p.domain, n]
  }
  throw new DrmError('ENOSPC', `no place has room for GEM object ${id}`)
}

function evictAlloc(
  d: DevState,
  thread: number,
  id: number,
  p: Place,
  depth: number,
  dw: DmemWalk,
  st: Stats,
): bigint | null {
  const h = resvOf(d, objectOf(d, id).resv).holder
  // The ticket is the context the caller holds the buffer with.
  const ticket = h !== null && h.thread === thread ? h.ctx : null
  let w = evictWalk(d, thread, id, p, null, depth, dw, st)
  // dmem: once more with low-protected victims when only they were left.
  if (!w.found && retryLow(dw)) w = evictWalk(d, thread, id, p, null, depth, dw, st)
  if (w.found) return w.node
  if (ticket !== null) {
    resetLow(dw)
    do {
      // Repeat while walks make progress, at most once per buffer on the
      // LRU: victims may bounce between domains through nested evictions.
      const rounds = memOf(d, p.domain)?.lru.size ?? 0
      for (let i = 0; i <= rounds; i++) {
        w = evictWalk(d, thread, id, p, ticket, depth, dw, st)
        if (w.found) return w.node
        if (w.evicted === 0) break
      }
    } while (retryLow(dw))
  }
  throw new DrmError('EBUSY', `nothing in ${DOMAIN_NAMES[p.domain]} can be evicted`)
}

interface Walk {
  found: boolean
  node: bigint | null
  evicted: number
}

function evictWalk(
  d: DevState,
  thread: number,
  id: number,
  p: Place,
  ticketIn: number | null,
  depth: number,
  dw: DmemWalk,
  st: Stats,
): Walk {
  const size = objectOf(d, id).size
  // Only what was on the LRU when the walk began.
  const last = d.lruSeq
  const cur = cursor()
  let ticket = ticketIn
  let evicted = 0
  // Priority 0 first, each list from its head (lru.ts); ttm-lru's hooks skip victims.
  for (let victim = lruNext(d, p.domain, cur, last); victim !== 0; victim = lruNext(d, p.domain, cur, last)) {
    const v = d.objects.get(victim)
    if (!v || v.freed || !evictionValuable(d, victim)) continue
    const [vresv, vpins] = [v.resv, v.pinCount]
    let locked = lock(d, thread, vresv, 0, TRY).result === 'ok'
    if (!locked && ticket !== null) {
      const r = lock(d, thread, vresv, ticket, NORMAL).result
      if (r === 'ok') {
        // One ticketed lock per walk: they are the ones that can die.
        locked = true
        ticket = null
      } else if (r === 'EDEADLK') {
        throw new DrmError('ENOSPC', 'eviction lock died: the caller must back off')
      }
    }
    // dmem: victims under their protection, or outside the limit's subtree,
    // stay (asked before the pin count, as ttm_bo_evict_cb does: hit_low counts pinned ones);
    // ttm_bo_eviction_valuable: a victim outside the place's window frees nothing there.
    if (
      !locked ||
      !dmemEvictable(d, victim, p.domain, dw) ||
      vpins > 0 ||
      !resIntersects(d, victim, p) ||
      copyVictimBusy(d, victim)
    ) {
      if (locked) unlockResv(d, thread, vresv, false)
      continue
    }
    let err: unknown = null
    try {
      evict(d, thread, victim, depth + 1, st)
    } catch (e) {
      err = e
    }
    // dma_resv_unlock, not ttm_bo_unreserve: no LRU bump for the victim.
    unlockResv(d, thread, vresv, false)
    if (err !== null) {
      if (enospc(err)) continue
      throw err
    }
    evicted += 1
    try {
      const node = dmemWalkAlloc(d, id, size, p, dw)
      return { found: true, node, evicted }
    } catch (e) {
      if (!enospc(e)) throw e
    }
  }
  return { found: false, node: null, evicted }
}

function evict(d: DevState, thread: number, id: number, depth: number, st: Stats): void {
  if (depth > MAX_EVICT_DEPTH) throw new DrmError('ENOSPC', 'eviction nested too deep')
  const all = evictPlacement(d, id)
  if (all.length === 0) {
    purge(d, id, true, st)
    return
  }
  // An eviction leaves the domain: a place in it would only churn the LRU.
  const from = objectOf(d, id).domain
  const placement = all.filter((p) => p.domain !== from)
  for (const evicting of [false, true]) {
    let r: [number, bigint | null]
    try {
      r = allocResource(d, thread, id, placement, evicting, depth, st)
    } catch (e) {
      if (enospc(e)) continue
      throw e
    }
    moveHops(d, thread, id, r[0], r[1], true, depth, st)
    return
  }
  throw new DrmError('ENOSPC', `no room to evict GEM object ${id}`)
}

function count(d: DevState, bytes: bigint, evicted: boolean, st: Stats): void {
  st.bytesMoved = sat(st.bytesMoved + bytes)
  d.totals.bytesMoved = sat(d.totals.bytesMoved + bytes)
  d.totals.moves += 1n
  if (evicted) {
    st.evictions += 1
    d.totals.evictions += 1n
  } else {
    st.moved = true
  }
}

/** The type a move to `to` bounces through (a device rule, a buffer with pages, a manager for the hop), or 0. */
function hopFor(d: DevState, id: number, to: number): number {
  const o = objectOf(d, id)
  if (o.purged || !o.populated) return 0
  for (let i = 0; i < d.hops.length; i += 3) {
    if (d.hops[i] === o.domain && d.hops[i + 1] === to) return memOf(d, d.hops[i + 2]) === null ? 0 : d.hops[i + 2]
  }
  return 0
}

/**
 * `ttm_bo_handle_move_mem` with the -EMULTIHOP bounce (multihop.rs): through
 * a TEMPORARY resource in the hop's type, then to `node`. A hop without room
 * frees `node` and fails (ENOSPC when evicting, else ENOMEM).
 */
function moveHops(
  d: DevState,
  thread: number,
  id: number,
  to: number,
  node: bigint | null,
  evicted: boolean,
  depth: number,
  st: Stats,
): void {
  const via = hopFor(d, id, to)
  if (via !== 0) {
    const hop = [{ domain: via, flags: PL_TEMPORARY }]
    let got: [number, bigint | null] | null = null
    for (const evicting of [false, true]) {
      try {
        got = allocResource(d, thread, id, hop, evicting, depth, st)
        break
      } catch (e) {
        if (enospc(e)) continue
        domainFree(d, to, node)
        throw e
      }
    }
    if (got === null) {
      domainFree(d, to, node)
      throw new DrmError(
        evicted ? 'ENOSPC' : 'ENOMEM',
        `no room in ${DOMAIN_NAMES[via]} to bounce GEM object ${id} through`,
      )
    }
    commitMove(d, id, got[0], got[1], evicted, st)
    if (evicted) {
      // One eviction however many hops it takes; each hop is a move.
      st.evictions -= 1
      d.totals.evictions -= 1n
    }
  }
  commitMove(d, id, to, node, evicted, st)
}

/** The buffer now lives at `node` in `to`: one hop's bytes counted. */
function commitMove(d: DevState, id: number, to: number, node: bigint | null, evicted: boolean, st: Stats): void {
  const o = objectOf(d, id)
  const from = o.domain
  lruRemove(d, id)
  if (!o.purged) {
    domainFree(d, from, o.node)
    dmemUncharge(d, id, o.size, from)
  }
  swapIn(d, id)
  // One hop per move (multihop.ts makes the bounces): one copy job each.
  copyMove(d, id, from, to, false, evicted)
  count(d, o.size, evicted, st)
  o.node = node
  o.purged = false
  o.populated ||= to !== SYSTEM
  relocate(d, id, to)
  ttAfterMove(d, id, to)
  lruTouch(d, id)
  logMove(d, id, from, to, evicted)
}

function purge(d: DevState, id: number, evicted: boolean, st: Stats): void {
  const o = objectOf(d, id)
  const from = o.domain
  lruRemove(d, id)
  swapForget(d, id)
  domainFree(d, from, o.node)
  dmemUncharge(d, id, o.size, from)
  o.node = null
  o.purged = true
  o.populated = false
  relocate(d, id, SYSTEM)
  ttUnpopulate(d, id)
  count(d, 0n, evicted, st)
  logMove(d, id, from, 0, evicted)
}

/** Every move (and purge) ends here: logged when tracking, and told to the attached VA spaces. */
function logMove(d: DevState, id: number, from: number, to: number, evicted: boolean): void {
  if (d.trackMoves) d.moves.push({ id, from, to, evicted })
  d.moved(id, evicted)
}
