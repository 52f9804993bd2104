/**
 * Memory types and places at the public API (ttm-res): the device's memory
 * layout (sizes, the allocator of each manager, driver-private types by
 * name, multihop rules) and the packing of places with their page windows
 * and flags, three numbers per place, for one engine crossing per validate.
 */
import {
  ALLOCATORS,
  MAX_MEM_TYPES,
  PLACE_FLAGS,
  type AllocatorName,
  type MemoryRecord,
  type ResourceRecord,
} from '../contract/device.js'
import { describe, flag, integer, list, options, string, u64 } from '../base/check.js'
import { DrmError } from '../base/errors.js'

/** A place as the public API spells it (placement.ts's `Place`). */
interface Place {
  domain: string
  fpfn?: number
  lpfn?: number
  contiguous?: boolean
  topDown?: boolean
  temporary?: boolean
  desired?: boolean
  fallback?: boolean
}

/** A manager's size, or its size and range allocator. */
export interface MemoryTypeOptions {
  size: bigint
  /** 'buddy' (VRAM's default, as amdgpu and Xe) or 'mm' (drm_mm, TTM's range manager; GTT's default). */
  allocator?: AllocatorName
}

/** A driver-private memory type (TTM_PL_PRIV + i), used in places by its name. */
export interface PrivateTypeOptions {
  name: string
  size: bigint
  /** Default 'mm'. */
  allocator?: AllocatorName
  /** Backed by system pages, as GTT (default false: device memory). */
  useTt?: boolean
}

/** A move the copy path cannot make directly: it bounces through a TEMPORARY place in `via` (default 'gtt'). */
export interface MultihopRule {
  from: string
  to: string
  via?: string
}

/** An object's resource: where, whether one run, whether a bounce, and its blocks. */
export interface ResourceInfo {
  domain: string
  contiguous: boolean
  temporary: boolean
  blocks: { offset: bigint; size: bigint }[]
}

/** The engines' memory record and the memory type names by index (0 'current'). */
export interface MemoryLayout {
  record: MemoryRecord
  names: readonly string[]
}

export const BUILTIN_TYPES = ['current', 'system', 'gtt', 'vram'] as const

function sized(v: unknown, what: string): { size: bigint; allocator?: number } {
  if (typeof v === 'bigint' || typeof v !== 'object' || v === null) return { size: u64(v, what) }
  const o = options<MemoryTypeOptions>(v, what)
  const size = u64(o.size, `${what}.size`)
  if (o.allocator === undefined) return { size }
  return { size, allocator: allocatorIndex(o.allocator, `${what}.allocator`) }
}

function allocatorIndex(v: unknown, what: string): number {
  const i = ALLOCATORS.indexOf(v as AllocatorName)
  if (i < 0) throw new DrmError('EINVAL', `${what} must be 'mm' or 'buddy', got ${describe(v)}`)
  return i
}

/** Checks memory options: sizes as u64 bigints (or `{ size, allocator }`), private types, multihop rules. */
export function memoryLayout(m: unknown): MemoryLayout {
  const o = options<Record<string, unknown>>(m, 'memory', true)
  const rec: MemoryRecord = {}
  if (o.vram !== undefined) {
    const v = sized(o.vram, 'memory.vram')
    rec.vram = v.size
    if (v.allocator !== undefined) rec.vramAllocator = v.allocator
  }
  if (o.gtt !== undefined) {
    const g = sized(o.gtt, 'memory.gtt')
    rec.gtt = g.size
    if (g.allocator !== undefined) rec.gttAllocator = g.allocator
  }
  if (o.system !== undefined) rec.system = u64(o.system, 'memory.system')
  if (rec.system === 0n) throw new DrmError('EINVAL', 'memory.system must be above 0 (omit it for unbounded)')
  const names: string[] = [...BUILTIN_TYPES]
  if (o.private !== undefined) {
    const priv = list(o.private, 'memory.private')
    if (priv.length > MAX_MEM_TYPES - 3) {
      throw new DrmError('EINVAL', `${priv.length} private memory types, TTM has room for ${MAX_MEM_TYPES - 3}`)
    }
    rec.private = priv.map((p, i) => {
      const t = options<PrivateTypeOptions>(p, `memory.private[${i}]`)
      const name = string(t.name, `memory.private[${i}].name`)
      if (name === '' || names.includes(name) || name === 'none') {
        throw new DrmError('EINVAL', `memory.private[${i}].name must be new and not empty, got ${describe(name)}`)
      }
      names.push(name)
      return {
        name,
        size: u64(t.size, `memory.private[${i}].size`),
        allocator: t.allocator === undefined ? 0 : allocatorIndex(t.allocator, `memory.private[${i}].allocator`),
        useTt: flag(t.useTt, `memory.private[${i}].useTt`),
      }
    })
  }
  if (o.multihop !== undefined) {
    rec.hops = list(o.multihop, 'memory.multihop').flatMap((h, i) => {
      const r = options<MultihopRule>(h, `memory.multihop[${i}]`)
      const at = (v: unknown, w: string) => typeIndex(v, names, `memory.multihop[${i}].${w}`)
      return [at(r.from, 'from'), at(r.to, 'to'), r.via === undefined ? 2 : at(r.via, 'via')]
    })
  }
  return { record: rec, names }
}

/** The index of a memory type name (1..9); EINVAL for a name the device does not declare. */
export function typeIndex(domain: unknown, names: readonly string[], what = 'domain'): number {
  const i = typeof domain === 'string' ? names.indexOf(domain) : -1
  if (i < 1)
    throw new DrmError('EINVAL', `${what} must be one of ${names.slice(1).join(', ')}, got ${describe(domain)}`)
  return i
}

/** A page number of a place: absent is 0; anything but an integer in [0, 2^32) is EINVAL naming `place i: name`. */
function page(v: unknown, i: number, name: string): number {
  if (v === undefined) return 0
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 0xffff_ffff) return v
  return integer(v, `place ${i}: ${name}`, 0, 0xffff_ffff)
}

/** A place flag: absent is 0; a boolean gives `bit` or 0; anything else is EINVAL naming `place i: name`. */
function flagBit(v: unknown, i: number, name: string, bit: number): number {
  if (v === undefined || v === false) return 0
  if (v === true) return bit
  return flag(v, `place ${i}: ${name}`) ? bit : 0
}

/**
 * Packs a placement, three numbers per place; EINVAL on anything malformed.
 * Runs on every validate: a plain loop whose error messages are built only
 * on failure. Reads the list (all its elements), then each place's fields
 * once, in the order contiguous, topDown, temporary, desired, fallback,
 * domain, fpfn, lpfn, each checked before the next is read.
 */
export function encodePlaces(placement: unknown, names: readonly string[]): number[] {
  const items = list(placement, 'a placement')
  // Sized up front: pushes would grow it (a copy) on every call.
  const out: number[] = new Array(3 * items.length)
  for (let i = 0; i < items.length; i++) {
    const p = items[i]
    // What `options` would refuse, it refuses in its own words (a revoked Proxy, on which
    // Array.isArray throws, included); an object passes it unread.
    if (typeof p !== 'object' || p === null || arrayOrRevoked(p)) options<Place>(p, `place ${i}`)
    const q = p as Place
    const flags =
      flagBit(q.contiguous, i, 'contiguous', PLACE_FLAGS.contiguous) |
      flagBit(q.topDown, i, 'topDown', PLACE_FLAGS.topdown) |
      flagBit(q.temporary, i, 'temporary', PLACE_FLAGS.temporary) |
      flagBit(q.desired, i, 'desired', PLACE_FLAGS.desired) |
      flagBit(q.fallback, i, 'fallback', PLACE_FLAGS.fallback)
    const domain = q.domain
    const t = typeof domain === 'string' ? nameIndex(names, domain) : -1
    const head = (t < 1 ? typeIndex(domain, names, `place ${i}: domain`) : t) | (flags << 8)
    const fpfn = page(q.fpfn, i, 'fpfn')
    const lpfn = page(q.lpfn, i, 'lpfn')
    out[3 * i] = head >>> 0
    out[3 * i + 1] = fpfn
    out[3 * i + 2] = lpfn
  }
  return out
}

/** `names.indexOf(name)` as a loop the compiler inlines (the builtin is a call, on every validate). */
function nameIndex(names: readonly string[], name: string): number {
  for (let i = 0; i < names.length; i++) if (names[i] === name) return i
  return -1
}

/** Array.isArray, true where it throws (a revoked Proxy): no `types.isProxy` call into C++ per place. */
function arrayOrRevoked(v: object): boolean {
  try {
    return Array.isArray(v)
  } catch {
    return true
  }
}

export function decodePlaces(v: number[], names: readonly string[]): Place[] {
  const out: Place[] = []
  for (let i = 0; i + 2 < v.length; i += 3) {
    const f = v[i] >>> 8
    const p: Place = { domain: names[v[i] & 0xff] ?? 'none' }
    if (f & PLACE_FLAGS.contiguous) p.contiguous = true
    if (f & PLACE_FLAGS.topdown) p.topDown = true
    if (f & PLACE_FLAGS.temporary) p.temporary = true
    if (f & PLACE_FLAGS.desired) p.desired = true
    if (f & PLACE_FLAGS.fallback) p.fallback = true
    if (v[i + 1] !== 0) p.fpfn = v[i + 1]
    if (v[i + 2] !== 0) p.lpfn = v[i + 2]
    out.push(p)
  }
  return out
}

export function resourceOf(r: ResourceRecord | null, names: readonly string[]): ResourceInfo | null {
  if (r === null) return null
  const blocks: { offset: bigint; size: bigint }[] = []
  for (let i = 0; i + 1 < r.blocks.length; i += 2) blocks.push({ offset: r.blocks[i], size: r.blocks[i + 1] })
  return {
    domain: names[r.domain] ?? 'none',
    contiguous: (r.flags & PLACE_FLAGS.contiguous) !== 0,
    temporary: (r.flags & PLACE_FLAGS.temporary) !== 0,
    blocks,
  }
}
