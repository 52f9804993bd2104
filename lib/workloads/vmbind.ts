/**
 * The canonical bind/unbind workload (lib/workloads/vmbind.md) for any
 * engine behind `VmCore`: the request stream, the trace and summary formats,
 * and the hashes the golden files pin down. Output matches the Rust core's
 * native/core/src/vmbind.rs byte for byte.
 */

import type { OpRecord, VmCore, VmCreateOptions } from '../contract/vm.js'
import { DrmError } from '../base/errors.js'
import { hex } from '../base/check.js'
import { SplitMix64 } from '../base/prng.js'

export { SplitMix64 }

const MASK = (1n << 64n) - 1n

export const PAGE_SIZE = 4096n
export const BASE = 0x1_0000_0000n
export const VA_RANGE = 1n << 48n

/** The VA space the workload runs in: [0, 2^48) with the kernel-reserved node [0, 4096). */
export const vmbindVmOptions = (): VmCreateOptions => ({
  name: 'vmbind',
  start: 0n,
  range: VA_RANGE,
  reserve: { offset: 0n, range: PAGE_SIZE },
})

export interface VmbindParams {
  /** PRNG seed (u64). */
  seed: bigint
  /** Number of requests. */
  ops: number
  /** Pages of VA the requests fall in. */
  window: number
  /** Longest request, in pages. */
  maxPages: number
  /** Distinct GEM objects, ids 1..objects. */
  objects: number
  /** Share of requests that are maps, in percent. */
  mapPercent: number
}

export const defaultParams: Readonly<VmbindParams> = Object.freeze({
  seed: 1n,
  ops: 100_000,
  window: 1 << 20,
  maxPages: 64,
  objects: 1024,
  mapPercent: 70,
})

/** EINVAL for parameters the Rust core refuses (and for values that are not integers). */
export function validateParams(p: VmbindParams): void {
  const bad = (what: string): never => {
    throw new DrmError('EINVAL', `vmbind: ${what}`)
  }
  const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0
  if (typeof p.seed !== 'bigint' || p.seed < 0n || p.seed > MASK) bad('seed must be a u64')
  if (!isCount(p.ops)) bad('ops must be a non-negative integer')
  if (!isCount(p.window) || p.window === 0 || BigInt(p.window) > (VA_RANGE - BASE) / PAGE_SIZE) {
    bad('window must be between 1 and the pages above the base address')
  }
  if (!isCount(p.maxPages) || p.maxPages === 0) bad('max-pages must be at least 1')
  if (!isCount(p.objects) || p.objects === 0 || p.objects > 0xffff_ffff - 1) bad('objects must be between 1 and 2^32-2')
  if (!isCount(p.mapPercent) || p.mapPercent > 100) bad('map-percent must be at most 100')
}

/**
 * FNV-1a 64 over the bytes of ASCII text (every trace line is ASCII). The state
 * is kept as two 32-bit halves in numbers, since per-byte bigint arithmetic
 * would dominate the run; the value is exact mod 2^64.
 */
export class Fnv1a64 {
  #hi = 0xcbf29ce4
  #lo = 0x84222325

  update(text: string): this {
    let hi = this.#hi
    let lo = this.#lo
    for (let i = 0; i < text.length; i++) {
      const b = text.charCodeAt(i)
      if (b > 0x7f) throw new RangeError('Fnv1a64.update: text must be ASCII')
      lo = (lo ^ b) >>> 0
      // h * 0x100000001b3 = h * 0x1b3 + (h << 40), mod 2^64; each partial sum stays below 2^53.
      const low = lo * 0x1b3
      hi = (hi * 0x1b3 + ((lo << 8) >>> 0) + Math.floor(low / 0x1_0000_0000)) >>> 0
      lo = low >>> 0
    }
    this.#hi = hi
    this.#lo = lo
    return this
  }

  /** One byte (0-255). */
  byte(b: number): this {
    const lo = (this.#lo ^ b) >>> 0
    const low = lo * 0x1b3
    this.#hi = (this.#hi * 0x1b3 + ((lo << 8) >>> 0) + Math.floor(low / 0x1_0000_0000)) >>> 0
    this.#lo = low >>> 0
    return this
  }

  /**
   * `0x` and the lowercase hex digits of `hi * 2^32 + lo` (two u32 halves),
   * without leading zeros, as `toString(16)` writes them: hashed as they
   * are produced, with no string or BigInt made.
   */
  hexHalves(hi: number, lo: number): this {
    this.byte(0x30).byte(0x78)
    if (hi !== 0) {
      this.#digits(hi, 8 - (Math.clz32(hi) >> 2))
      this.#digits(lo, 8)
    } else this.#digits(lo, Math.max(1, 8 - (Math.clz32(lo) >> 2)))
    return this
  }

  /** `hexHalves` of a u64. */
  hex(v: bigint): this {
    word[0] = v
    return this.hexHalves(halves[HIGH], halves[1 - HIGH])
  }

  /** The low `count` hex digits of the u32 `v`, the most significant first. */
  #digits(v: number, count: number): void {
    for (let shift = 4 * (count - 1); shift >= 0; shift -= 4) {
      const d = (v >>> shift) & 15
      this.byte(d < 10 ? 0x30 + d : 0x57 + d)
    }
  }

  get value(): bigint {
    return (BigInt(this.#hi) << 32n) | BigInt(this.#lo)
  }
}

/** A u64 read back as two u32 halves; which comes first depends on the machine's byte order. */
const word = new BigUint64Array(1)
const halves = new Uint32Array(word.buffer)
/** The index of a u64's high half among its two u32 halves in memory. */
export const HIGH = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0

/** FNV-1a 64 of `text`, continuing from `state` when given. */
export function fnv1a64(text: string, state: Fnv1a64 = new Fnv1a64()): bigint {
  return state.update(text).value
}

export type VmbindRequest =
  | { kind: 'map'; addr: bigint; range: bigint; obj: number; offset: bigint }
  | { kind: 'unmap'; addr: bigint; range: bigint }

/** The request stream, drawn in exactly the order the workload fixes. */
export function* requests(params: VmbindParams): Generator<VmbindRequest> {
  validateParams(params)
  const rng = new SplitMix64(params.seed)
  const window = BigInt(params.window)
  const maxPages = BigInt(params.maxPages)
  const objects = BigInt(params.objects)
  const mapPercent = BigInt(params.mapPercent)
  for (let i = 0; i < params.ops; i++) {
    const isMap = rng.below(100n) < mapPercent
    const page = rng.below(window)
    let pages = 1n + rng.below(maxPages)
    if (page + pages > window) pages = window - page
    const addr = BASE + page * PAGE_SIZE
    const range = pages * PAGE_SIZE
    if (isMap) {
      const obj = Number(1n + rng.below(objects))
      const offset = rng.below(256n) * PAGE_SIZE
      yield { kind: 'map', addr, range, obj, offset }
    } else {
      yield { kind: 'unmap', addr, range }
    }
  }
}

/** The trace line of request `i`, without its newline. */
export function requestLine(i: number, req: VmbindRequest): string {
  return req.kind === 'map'
    ? `req ${i} map ${hex(req.addr)} ${hex(req.range)} ${hex(req.obj)} ${hex(req.offset)}`
    : `req ${i} unmap ${hex(req.addr)} ${hex(req.range)}`
}

/** The trace line of one step, without its newline. */
export function opLine(op: OpRecord): string {
  const piece = (p: { addr: bigint; range: bigint; obj: number; offset: bigint } | null): string =>
    p === null ? '-' : `${hex(p.addr)},${hex(p.range)},${hex(p.obj)},${hex(p.offset)}`
  switch (op.kind) {
    case 'map':
      return `op map ${hex(op.map.addr)} ${hex(op.map.range)} ${hex(op.map.obj)} ${hex(op.map.offset)}`
    case 'remap':
      return `op remap ${hex(op.va.addr)} ${hex(op.va.range)} keep=${op.keep ? 1 : 0} prev=${piece(op.prev)} next=${piece(op.next)}`
    case 'unmap':
      return `op unmap ${hex(op.va.addr)} ${hex(op.va.range)} ${hex(op.va.obj)} ${hex(op.va.offset)} keep=${op.keep ? 1 : 0}`
    case 'prefetch':
      return `op prefetch ${hex(op.va.addr)} ${hex(op.va.range)}`
  }
}

export interface VmbindSummary {
  requests: number
  map: number
  remap: number
  unmap: number
  /** Live mappings at the end, the kernel-reserved node not counted. */
  mappings: number
  /** Absent when the trace was not hashed (mode 'off'). */
  traceHash?: bigint
  stateHash: bigint
}

export type TraceMode = 'full' | 'hash' | 'off'

export interface VmbindResult {
  /** Every trace line, without newlines; only in 'full' mode (empty otherwise). */
  trace: string[]
  summary: VmbindSummary
  /** What `drmsim vmbind` prints: the trace lines (in 'full' mode), then the summary. */
  text: string
  /** Nanoseconds spent in the request loop (no summary hashing). */
  loopNs: number
}

const hex16 = (n: bigint): string => n.toString(16).padStart(16, '0')

/** The summary lines of the workload's format, each ending in a newline. */
export function renderSummary(s: VmbindSummary): string {
  let out = `requests ${s.requests}\nops map=${s.map} remap=${s.remap} unmap=${s.unmap}\nmappings ${s.mappings}\n`
  if (s.traceHash !== undefined) out += `trace_fnv1a64 ${hex16(s.traceHash)}\n`
  return `${out}state_fnv1a64 ${hex16(s.stateHash)}\n`
}

/** FNV-1a over "<addr> <range> <obj> <offset>\n" of each mapping in address order, the kernel node excluded. */
export function stateHash(core: VmCore): bigint {
  const h = new Fnv1a64()
  for (const va of core.list()) {
    if (va.seq !== 0) h.update(`${hex(va.addr)} ${hex(va.range)} ${hex(va.obj)} ${hex(va.offset)}\n`)
  }
  return h.value
}

/**
 * Replays the workload against `core`, which must be a fresh VA space made
 * with `vmbindVmOptions()`. Each step is applied right after its trace line,
 * before the next is computed, as a driver's step callbacks would.
 */
export function runVmbind(
  core: VmCore,
  params: VmbindParams,
  mode: TraceMode,
  /** Called every 4096 requests with the number done (for a progress bar). */
  onProgress?: (done: number) => void,
  /** Called before and after each request with its index (the page-table cost model's request windows). */
  eachRequest?: { before: (i: number) => void; after: (i: number) => void },
): VmbindResult {
  const trace: string[] = []
  const hash = new Fnv1a64()
  const emit = (line: string): void => {
    if (mode === 'off') return
    hash.update(line).update('\n')
    if (mode === 'full') trace.push(line)
  }
  const counts = { map: 0, remap: 0, unmap: 0 }
  let i = 0
  const started = process.hrtime.bigint()
  for (const req of requests(params)) {
    if (onProgress && (i & 4095) === 0 && i > 0) onProgress(i)
    eachRequest?.before(i)
    emit(requestLine(i++, req))
    const cursor =
      req.kind === 'map' ? core.smMap(req.addr, req.range, req.obj, req.offset) : core.smUnmap(req.addr, req.range)
    for (let op = cursor.step(); op !== undefined; op = cursor.step()) {
      emit(opLine(op))
      core.apply(op)
      if (op.kind !== 'prefetch') counts[op.kind]++
    }
    eachRequest?.after(i - 1)
  }
  const loopNs = Number(process.hrtime.bigint() - started)
  const summary: VmbindSummary = {
    requests: params.ops,
    ...counts,
    mappings: core.count() - (core.kernelNode() ? 1 : 0),
    stateHash: stateHash(core),
  }
  if (mode !== 'off') summary.traceHash = hash.value
  const text = (mode === 'full' ? trace.map((l) => `${l}\n`).join('') : '') + renderSummary(summary)
  return { trace, summary, text, loopNs }
}
