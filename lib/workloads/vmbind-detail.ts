/**
 * What a run of the canonical vmbind workload did beyond its summary: the
 * remaps that cut a mapping in two (splits) and the steps that kept their
 * pages (keep=1), the mappings left (the largest, how fragmented the
 * request window is) and, on request, a time series sampled every N
 * requests. Both engines count in the run itself: the reference engine's
 * TypeScript loop through `StepTally` (with `tallied`), the native engine's
 * Rust loop (native/core/src/vmbind.rs `Tally`), which returns its counts,
 * samples and the mappings left packed (`unpackMappings`). `details` turns
 * either into the same report.
 */
import type { MapRecord, OpRecord, VmCore } from '../contract/vm.js'
import { Wire } from '../contract/wire.gen.js'
import { hex } from '../base/check.js'
import { BASE, Fnv1a64, HIGH, PAGE_SIZE, type VmbindParams } from './vmbind.js'

/** The state right after request `req`. */
export interface VmbindSample {
  /** The request just done: its index, from 0, as `req N` in the trace. */
  req: number
  /** Live mappings (the kernel node not counted). */
  mappings: number
  map: number
  remap: number
  unmap: number
  splits: number
  keeps: number
  /** Bytes mapped. */
  mappedBytes: number
}

export interface SampleOptions {
  /** A sample after every `every` requests (and one after the last). */
  every: number
  onSample: (sample: VmbindSample) => void
}

/** The final state of the run's VA space, seen from the request window. */
export interface VmbindDetails {
  map: number
  remap: number
  unmap: number
  /** Remaps that left a piece on each side: a mapping cut in two. */
  splits: number
  /** Remap and unmap steps with keep=1 (the mapping's pages may stay). */
  keeps: number
  /** The mappings left, in address order, the kernel node left out. */
  mappings: MapRecord[]
  /** The largest mapping left (the lowest of equals), null when none is. */
  largest: MapRecord | null
  /** The request window, [from, to). */
  window: { from: bigint; to: bigint }
  mappedBytes: bigint
  /** Unmapped bytes in the window, in how many holes, and the largest hole. */
  freeBytes: bigint
  holes: number
  largestFree: bigint
  /** 1 - largestFree / freeBytes, as for memory domains: 0 when the free space is one block. */
  fragmentation: number
  /** FNV-1a of the mappings left, as the summary's state_fnv1a64 (16 hex digits). */
  stateFnv1a64: string
}

/** What the steps of a run did, beyond the summary's counts. */
export interface StepCounts {
  map: number
  remap: number
  unmap: number
  splits: number
  keeps: number
}

/** Counts the steps of the workload as they are applied, and samples them (the reference engine's tally). */
export class StepTally {
  map = 0
  remap = 0
  unmap = 0
  splits = 0
  keeps = 0
  mappings = 0
  mappedBytes = 0
  #lastSampled = -1

  constructor(readonly sampling?: SampleOptions) {}

  step(op: OpRecord): void {
    switch (op.kind) {
      case 'map':
        this.map++
        this.mappings++
        this.mappedBytes += Number(op.map.range)
        return
      case 'remap':
        this.remap++
        if (op.keep) this.keeps++
        if (op.prev && op.next) this.splits++
        this.mappings += (op.prev ? 1 : 0) + (op.next ? 1 : 0) - 1
        this.mappedBytes += Number((op.prev?.range ?? 0n) + (op.next?.range ?? 0n) - op.va.range)
        return
      case 'unmap':
        this.unmap++
        if (op.keep) this.keeps++
        this.mappings--
        this.mappedBytes -= Number(op.va.range)
        return
      case 'prefetch':
        return
    }
  }

  /** Request `req` is done: a sample if one is due. */
  done(req: number): void {
    const s = this.sampling
    if (s && (req + 1) % s.every === 0) this.#sample(req)
  }

  /** The run ended after request `last` (-1: no request): the last sample, unless it was just taken. */
  end(last: number): void {
    if (this.sampling && last >= 0 && this.#lastSampled !== last) this.#sample(last)
  }

  #sample(req: number): void {
    this.#lastSampled = req
    this.sampling!.onSample({
      req,
      mappings: this.mappings,
      map: this.map,
      remap: this.remap,
      unmap: this.unmap,
      splits: this.splits,
      keeps: this.keeps,
      mappedBytes: this.mappedBytes,
    })
  }
}

/**
 * `core` wrapped so that `runVmbind` reports to `tally`: every step applied,
 * and the end of every request (when the next one starts; the last one's is
 * for the caller, with `tally.end`).
 */
export function tallied(core: VmCore, tally: StepTally): VmCore {
  let started = 0
  const begin = (): void => {
    if (started > 0) tally.done(started - 1)
    started++
  }
  return new Proxy(core, {
    get(target, prop) {
      switch (prop) {
        case 'smMap':
          return (addr: bigint, range: bigint, obj: number, offset: bigint) => {
            begin()
            return target.smMap(addr, range, obj, offset)
          }
        case 'smUnmap':
          return (addr: bigint, range: bigint) => {
            begin()
            return target.smUnmap(addr, range)
          }
        case 'apply':
          return (op: OpRecord) => {
            target.apply(op)
            tally.step(op)
          }
      }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** The mappings `core` holds, in address order, the kernel node left out. */
export function mappingsOf(core: VmCore): MapRecord[] {
  return core
    .list()
    .filter((va) => va.seq !== 0)
    .map(({ addr, range, obj, offset }) => ({ addr, range, obj, offset }))
}

/**
 * The mappings the native run left, from the packed batch of map requests
 * it returns them as (`BATCH_WORDS` words each: `[BATCH_MAP | obj << 32,
 * addr, range, offset]`, native/core/src/wire.rs).
 */
export function unpackMappings(words: BigUint64Array): MapRecord[] {
  if (words.length % Wire.BATCH_WORDS !== 0) throw new Error('vmbind: the packed mappings are not whole requests')
  const out: MapRecord[] = new Array(words.length / Wire.BATCH_WORDS)
  for (let i = 0, at = 0; at < words.length; i++, at += Wire.BATCH_WORDS) {
    const head = words[at + Wire.BATCH_AT_HEAD]
    out[i] = {
      addr: words[at + Wire.BATCH_AT_ADDR],
      range: words[at + Wire.BATCH_AT_RANGE],
      obj: Number(head >> BigInt(Wire.BATCH_OBJ_SHIFT)),
      offset: words[at + Wire.BATCH_AT_OFFSET],
    }
  }
  return out
}

/** Past this high half, a u64 is 2^53 or more: a Number would round it. */
const SAFE_HIGH = 0x20_0000

/**
 * `details(unpackMappings(words), params, counts)` read from the packed
 * words, with no record (and no three BigInts) made per mapping: a sweep task
 * keeps only the measures, and at 10^5 mappings the records and the hex
 * strings hashed cost more than the run. `mappings`, `largest` and
 * `stateFnv1a64` are made when first read: hashing every mapping's line
 * costs a quarter of a sweep task, which takes the summary's hash instead.
 * Addresses and ranges are summed as Numbers, exact below 2^53 (a VA space
 * ends at 2^48); a larger one sends the whole call the BigInt way.
 */
export function packedDetails(words: BigUint64Array, params: VmbindParams, counts: StepCounts): VmbindDetails {
  const slow = (): VmbindDetails => details(unpackMappings(words), params, counts)
  if (words.length % Wire.BATCH_WORDS !== 0) throw new Error('vmbind: the packed mappings are not whole requests')
  const fromBig = BASE
  const toBig = BASE + BigInt(params.window) * PAGE_SIZE
  if (toBig >= 2n ** 53n) return slow()
  const from = Number(fromBig)
  const to = Number(toBig)
  const half = new Uint32Array(words.buffer, words.byteOffset, words.length * 2)
  const hi = (word: number): number => half[2 * word + HIGH]
  const lo = (word: number): number => half[2 * word + 1 - HIGH]
  let largestAt = -1
  let largestRange = 0
  let mapped = 0
  let inWindow = 0
  let holes = 0
  let largestFree = 0
  let at = from
  const count = words.length / Wire.BATCH_WORDS
  for (let i = 0; i < count; i++) {
    const w = i * Wire.BATCH_WORDS
    const a = w + Wire.BATCH_AT_ADDR
    const r = w + Wire.BATCH_AT_RANGE
    if (hi(a) >= SAFE_HIGH || hi(r) >= SAFE_HIGH) return slow()
    const addr = hi(a) * 0x1_0000_0000 + lo(a)
    const range = hi(r) * 0x1_0000_0000 + lo(r)
    if (addr + range >= 2 ** 53) return slow()
    mapped += range
    if (largestAt < 0 || range > largestRange) {
      largestAt = i
      largestRange = range
    }
    const start = addr > from ? addr : from
    const end = addr + range < to ? addr + range : to
    if (end <= start) continue
    inWindow += end - start
    if (start > at) {
      holes++
      if (start - at > largestFree) largestFree = start - at
    }
    if (end > at) at = end
  }
  if (to > at) {
    holes++
    if (to - at > largestFree) largestFree = to - at
  }
  const freeBytes = to - from - inWindow
  let records: MapRecord[] | undefined
  const list = (): MapRecord[] => {
    records ??= unpackMappings(words)
    return records
  }
  const out = {
    map: counts.map,
    remap: counts.remap,
    unmap: counts.unmap,
    splits: counts.splits,
    keeps: counts.keeps,
  } as VmbindDetails
  let state: string | undefined
  Object.defineProperties(out, {
    mappings: { get: list, enumerable: true },
    largest: { get: () => (largestAt < 0 ? null : list()[largestAt]), enumerable: true },
    stateFnv1a64: { get: () => (state ??= packedStateHash(words, hi, lo)), enumerable: true },
  })
  out.window = { from: fromBig, to: toBig }
  out.mappedBytes = BigInt(mapped)
  out.freeBytes = BigInt(freeBytes)
  out.holes = holes
  out.largestFree = BigInt(largestFree)
  out.fragmentation = freeBytes > 0 ? 1 - largestFree / freeBytes : 0
  return out
}

/**
 * The state hash of packed mappings (each below 2^53, as `packedDetails`
 * checked): their lines hashed as `details` hashes them, digits made from the
 * u32 halves (`hi`, `lo`: a word's halves by index) with no string made.
 */
function packedStateHash(words: BigUint64Array, hi: (word: number) => number, lo: (word: number) => number): string {
  const hash = new Fnv1a64()
  for (let w = 0; w < words.length; w += Wire.BATCH_WORDS) {
    const a = w + Wire.BATCH_AT_ADDR
    const r = w + Wire.BATCH_AT_RANGE
    const o = w + Wire.BATCH_AT_OFFSET
    // The object id is the head word's high half (BATCH_OBJ_SHIFT is 32).
    const obj =
      Wire.BATCH_OBJ_SHIFT === 32
        ? hi(w + Wire.BATCH_AT_HEAD)
        : Number(words[w + Wire.BATCH_AT_HEAD] >> BigInt(Wire.BATCH_OBJ_SHIFT))
    hash.hexHalves(hi(a), lo(a)).byte(0x20).hexHalves(hi(r), lo(r)).byte(0x20)
    hash.hexHalves(0, obj).byte(0x20).hexHalves(hi(o), lo(o)).byte(0x0a)
  }
  return hash.value.toString(16).padStart(16, '0')
}

/**
 * The details of a run: its step counts, and the mappings it left (in
 * address order, the kernel node left out) seen from the request window.
 * `stateFnv1a64` is hashed from `mappings`, as the summary's is from the VA
 * space, so that comparing the two checks the mappings.
 */
export function details(mappings: MapRecord[], params: VmbindParams, counts: StepCounts): VmbindDetails {
  const from = BASE
  const to = BASE + BigInt(params.window) * PAGE_SIZE
  const hash = new Fnv1a64()
  let largest: MapRecord | null = null
  let mapped = 0n
  let inWindow = 0n
  let holes = 0
  let largestFree = 0n
  let at = from
  const hole = (end: bigint): void => {
    if (end <= at) return
    holes++
    if (end - at > largestFree) largestFree = end - at
  }
  for (const va of mappings) {
    hash.update(`${hex(va.addr)} ${hex(va.range)} ${hex(va.obj)} ${hex(va.offset)}\n`)
    mapped += va.range
    if (largest === null || va.range > largest.range) largest = va
    const start = va.addr > from ? va.addr : from
    const end = va.addr + va.range < to ? va.addr + va.range : to
    if (end <= start) continue
    inWindow += end - start
    hole(start)
    if (end > at) at = end
  }
  hole(to)
  const freeBytes = to - from - inWindow
  return {
    map: counts.map,
    remap: counts.remap,
    unmap: counts.unmap,
    splits: counts.splits,
    keeps: counts.keeps,
    mappings,
    largest,
    window: { from, to },
    mappedBytes: mapped,
    freeBytes,
    holes,
    largestFree,
    fragmentation: freeBytes > 0n ? 1 - Number(largestFree) / Number(freeBytes) : 0,
    stateFnv1a64: hash.value.toString(16).padStart(16, '0'),
  }
}
