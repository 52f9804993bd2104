/**
 * `drmsim replay`: a user's own workload, one JSON request per line (JSON
 * Lines), run against one simulated device and its VA spaces.
 *
 * Every line is checked field by field before anything runs: a bad line is
 * a `ReplayError` of kind 'format' naming the line and the field. A request
 * the simulation refuses is a `ReplayError` of kind 'simulation' carrying the
 * kernel's errno. Files are read as a stream with a bounded line length, and
 * the number of live handles is capped, so no input allocates without bound.
 *
 * The format (README, `examples/replay.jsonl`):
 *
 *   {"op":"device","vram":"0x10000000","gtt":"0x40000000"}      optional, first line only
 *   {"op":"vm.create","vm":"a","range":"0x1000000000000","reserve":["0","0x1000"]}
 *   {"op":"obj.create","obj":"bo1","size":"0x100000"}
 *   {"op":"bind","vm":"a","addr":"0x100000","range":"0x3000","obj":"bo1","offset":"0"}
 *   {"op":"unbind","vm":"a","addr":"0x101000","range":"0x1000"}
 *   {"op":"lock","obj":"bo1"}  {"op":"validate","obj":"bo1","placement":["vram","gtt"]}  {"op":"unlock","obj":"bo1"}
 *   {"op":"pin","obj":"bo1","domain":"vram"}  {"op":"unpin","obj":"bo1"}  {"op":"vmap","obj":"bo1"}  {"op":"vunmap","obj":"bo1"}
 *   {"op":"obj.destroy","obj":"bo1"}  {"op":"vm.destroy","vm":"a"}
 */
import { createReadStream, statSync } from 'node:fs'
import path from 'node:path'
import { Device, type DeviceOptions } from '../device/device.js'
import type { EngineName } from '../contract/vm.js'
import { DrmError, type Errno, type Warning } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import { GpuVm } from '../gpuvm/gpuvm.js'
import type { Op } from '../gpuvm/ops.js'
import type { WwAcquireCtx } from '../device/resv.js'
import { U64_MAX } from '../base/check.js'
import { Fnv1a64 } from '../workloads/vmbind.js'

// --- limits -------------------------------------------------------------------

/** Longest accepted line, in bytes (newline excluded). */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024
/** Most VMs + objects + acquire contexts alive at once. */
export const DEFAULT_MAX_HANDLES = 1_000_000
const MAX_NAME = 128
const MAX_PLACES = 8
/** Errors kept on the result under keepGoing (all are counted and reported through onRecord). */
const KEPT_ERRORS = 1000

// --- errors -------------------------------------------------------------------

/**
 * A replay that cannot go on. `kind` 'format': the file is malformed (bad
 * JSON, unknown op, a missing or bad field, an unknown or duplicate handle
 * name): EINVAL, exit code 2 in the CLI. 'simulation': the simulator refused
 * a well-formed request, with its errno: exit code 1. The message starts with
 * `file:line:` and names the field where there is one.
 */
export class ReplayError extends DrmError {
  readonly kind: 'format' | 'simulation'
  readonly file: string
  readonly line: number
  readonly field: string | undefined

  constructor(
    kind: 'format' | 'simulation',
    errno: Errno,
    at: { file: string; line: number; field?: string },
    message: string,
    options?: { cause?: unknown },
  ) {
    super(errno, message, options)
    this.name = 'ReplayError'
    this.kind = kind
    this.file = at.file
    this.line = at.line
    this.field = at.field
    const where = at.field === undefined ? '' : ` field "${at.field}":`
    this.message = `${at.file}:${at.line}:${where} ${message}`
  }
}

// --- the request schema -------------------------------------------------------

type Kind = 'name' | 'u64' | 'reserve' | 'objOrNull' | 'domain' | 'placeDomain' | 'placement' | 'profile' | 'wwClass'

interface OpSchema {
  required: Record<string, Kind>
  optional: Record<string, Kind>
}

const s = (required: Record<string, Kind>, optional: Record<string, Kind> = {}): OpSchema => ({ required, optional })

/** Every op, its required and optional fields. Unknown fields are refused (typos would pass silently). */
export const REPLAY_OPS: Readonly<Record<string, OpSchema>> = {
  device: s({}, { vram: 'u64', gtt: 'u64', system: 'u64', profile: 'profile', wwClass: 'wwClass' }),
  'vm.create': s({ vm: 'name', range: 'u64' }, { start: 'u64', reserve: 'reserve' }),
  'vm.destroy': s({ vm: 'name' }),
  'obj.create': s({ obj: 'name', size: 'u64' }, { profile: 'profile', resv: 'name' }),
  'obj.destroy': s({ obj: 'name' }),
  bind: s({ vm: 'name', addr: 'u64', range: 'u64' }, { obj: 'objOrNull', offset: 'u64' }),
  unbind: s({ vm: 'name', addr: 'u64', range: 'u64' }),
  pin: s({ obj: 'name' }, { domain: 'domain' }),
  unpin: s({ obj: 'name' }),
  vmap: s({ obj: 'name' }),
  vunmap: s({ obj: 'name' }),
  'ctx.init': s({ ctx: 'name' }),
  'ctx.fini': s({ ctx: 'name' }),
  lock: s({ obj: 'name' }, { ctx: 'name' }),
  unlock: s({ obj: 'name' }),
  validate: s({ obj: 'name', placement: 'placement' }),
}

export type ReplayOpName = keyof typeof REPLAY_OPS

export interface ReplayPlace {
  domain: 'system' | 'gtt' | 'vram'
  desired?: boolean
  fallback?: boolean
  topDown?: boolean
}

/** A checked request: u64 fields as bigint, names as strings. */
export interface ReplayRequest {
  op: string
  line: number
  vm?: string
  obj?: string | null
  ctx?: string
  resv?: string
  addr?: bigint
  range?: bigint
  offset?: bigint
  start?: bigint
  size?: bigint
  vram?: bigint
  gtt?: bigint
  system?: bigint
  reserve?: { offset: bigint; range: bigint }
  domain?: 'current' | 'system' | 'gtt' | 'vram'
  placement?: ReplayPlace[]
  profile?: 'gem-vram-2019' | 'gem-vram-2024' | 'shmem'
  wwClass?: 'wait-die' | 'wound-wait'
}

const U64_TEXT = /^(0[xX][0-9a-fA-F]+|[0-9]+)$/
const NAME = /^[\x21-\x7e]+$/
const DOMAINS = ['current', 'system', 'gtt', 'vram']
const PLACE_DOMAINS = ['system', 'gtt', 'vram']
const PROFILES = ['gem-vram-2019', 'gem-vram-2024', 'shmem']
const WW_CLASSES = ['wait-die', 'wound-wait']

/** A short, printable rendering of a JSON value for messages. */
function show(value: unknown): string {
  let text: string
  try {
    text = value === undefined ? 'nothing' : JSON.stringify(value)
  } catch {
    // Not String(value): an array's toString recurses as deep as it nests.
    text = Object.prototype.toString.call(value)
  }
  return text.length > 60 ? text.slice(0, 57) + '...' : text
}

/**
 * Deepest nesting of arrays and objects a line may have. The schema's lines
 * nest 3 deep; what reads a parsed value (the checks, `show`'s
 * JSON.stringify) recurses as deep as it nests, and overflows the stack on a
 * line of thousands of `[`, so deeper lines are refused before parsing.
 */
export const MAX_LINE_DEPTH = 64

/** Whether the JSON text `text` nests arrays and objects deeper than `MAX_LINE_DEPTH`. */
function nestsTooDeep(text: string): boolean {
  // Valid JSON nested d deep has at least 2d characters; shorter invalid JSON fails to parse.
  if (text.length <= 2 * MAX_LINE_DEPTH) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_LINE_DEPTH) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/**
 * Checks one parsed line against the schema. Throws a format ReplayError
 * naming the field; returns the typed request.
 */
export function checkRequest(value: unknown, file: string, line: number): ReplayRequest {
  const fail = (field: string | undefined, message: string): never => {
    throw new ReplayError('format', 'EINVAL', { file, line, field }, message)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(undefined, `a request must be a JSON object, got ${show(value)}`)
  }
  const o = value as Record<string, unknown>
  if (!('op' in o)) fail('op', 'missing (every request names its op)')
  if (typeof o.op !== 'string') fail('op', `must be a string, got ${show(o.op)}`)
  const op = o.op as string
  const schema = Object.hasOwn(REPLAY_OPS, op) ? REPLAY_OPS[op] : undefined
  if (!schema) fail('op', `unknown op ${show(op)}; expected one of ${Object.keys(REPLAY_OPS).join(', ')}`)
  const req: ReplayRequest = { op, line }
  for (const key of Object.keys(o)) {
    if (key !== 'op' && !Object.hasOwn(schema!.required, key) && !Object.hasOwn(schema!.optional, key)) {
      const allowed = [...Object.keys(schema!.required), ...Object.keys(schema!.optional)]
      fail(key, `unknown field for "${op}"${allowed.length ? `; expected ${allowed.join(', ')}` : ' (it takes no fields)'}`)
    }
  }
  for (const [key, kind] of Object.entries(schema!.required)) {
    if (!(key in o)) fail(key, `missing (required by "${op}")`)
    ;(req as unknown as Record<string, unknown>)[key] = checkField(o[key], kind, (m) => fail(key, m))
  }
  for (const [key, kind] of Object.entries(schema!.optional)) {
    if (key in o) (req as unknown as Record<string, unknown>)[key] = checkField(o[key], kind, (m) => fail(key, m))
  }
  return req
}

function checkField(v: unknown, kind: Kind, fail: (message: string) => never): unknown {
  switch (kind) {
    case 'u64':
      return u64Field(v, fail)
    case 'name':
      return nameField(v, fail)
    case 'objOrNull':
      return v === null ? null : nameField(v, fail)
    case 'reserve': {
      if (v === null) return undefined
      if (!Array.isArray(v) || v.length !== 2) fail(`must be [offset, range] (two u64s) or null, got ${show(v)}`)
      const [offset, range] = v as unknown[]
      return {
        offset: u64Field(offset, (m) => fail(`offset (item 0): ${m}`)),
        range: u64Field(range, (m) => fail(`range (item 1): ${m}`)),
      }
    }
    case 'domain':
      return oneOf(v, DOMAINS, fail)
    case 'placeDomain':
      return oneOf(v, PLACE_DOMAINS, fail)
    case 'profile':
      return oneOf(v, PROFILES, fail)
    case 'wwClass':
      return oneOf(v, WW_CLASSES, fail)
    case 'placement': {
      if (!Array.isArray(v)) fail(`must be an array of places, got ${show(v)}`)
      const places = v as unknown[]
      if (places.length > MAX_PLACES) fail(`at most ${MAX_PLACES} places, got ${places.length}`)
      return places.map((p, i) => place(p, (m) => fail(`place ${i}: ${m}`)))
    }
  }
}

function place(p: unknown, fail: (message: string) => never): ReplayPlace {
  if (typeof p === 'string') return { domain: oneOf(p, PLACE_DOMAINS, fail) as ReplayPlace['domain'] }
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    fail(`must be a domain name or {"domain":..., "desired"|"fallback"|"topDown": true}, got ${show(p)}`)
  }
  const o = p as Record<string, unknown>
  const out: ReplayPlace = { domain: oneOf(o.domain, PLACE_DOMAINS, (m) => fail(`domain: ${m}`)) as ReplayPlace['domain'] }
  for (const key of Object.keys(o)) {
    if (key === 'domain') continue
    if (key !== 'desired' && key !== 'fallback' && key !== 'topDown') fail(`unknown key ${show(key)}; expected domain, desired, fallback, topDown`)
    if (typeof o[key] !== 'boolean') fail(`${key} must be true or false, got ${show(o[key])}`)
    if (o[key]) out[key] = true
  }
  return out
}

function oneOf(v: unknown, allowed: readonly string[], fail: (message: string) => never): string {
  if (typeof v !== 'string' || !allowed.includes(v)) fail(`must be one of ${allowed.join(', ')}, got ${show(v)}`)
  return v as string
}

function nameField(v: unknown, fail: (message: string) => never): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME || !NAME.test(v)) {
    fail(`must be a name (1 to ${MAX_NAME} printable ASCII characters, no spaces), got ${show(v)}`)
  }
  return v as string
}

const U64_HELP = 'must be a u64 (decimal or 0x hex string)'

function u64Field(v: unknown, fail: (message: string) => never): bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) fail(`${U64_HELP}, got ${show(v)}`)
    if (!Number.isSafeInteger(v)) fail(`${U64_HELP}, got the number ${show(v)}, above 2^53 where JSON numbers lose precision: write it as a string`)
    return BigInt(v)
  }
  if (typeof v !== 'string' || v.length > 66 || !U64_TEXT.test(v)) fail(`${U64_HELP}, got ${show(v)}`)
  const n = BigInt(v as string)
  if (n > U64_MAX) fail(`${U64_HELP}, got ${show(v)}, which is 2^64 or more`)
  return n
}

// --- the runner ---------------------------------------------------------------

export interface ReplayOptions {
  /** Name used in messages (default 'replay.jsonl', or the file's base name). */
  file?: string
  /** Engine of the device and the VA spaces (default: DRMSIM_ENGINE or native). */
  engine?: EngineName
  /** Record simulation errors and go on, instead of stopping at the first. Format errors always stop. */
  keepGoing?: boolean
  /** Longest line in bytes (default 64 KiB). */
  maxLineBytes?: number
  /** Most live VMs + objects + contexts (default 1,000,000). */
  maxHandles?: number
  /** Called once per request with what it did (the CLI prints these); nothing is kept otherwise. */
  onRecord?: (record: ReplayRecord) => void
}

/** One step of a bind/unbind, with object names. */
export type ReplayStep =
  | { kind: 'map'; addr: bigint; range: bigint; obj: string | null; offset: bigint }
  | { kind: 'remap'; addr: bigint; range: bigint; keep: boolean; prev: ReplayPiece | null; next: ReplayPiece | null }
  | { kind: 'unmap'; addr: bigint; range: bigint; obj: string | null; offset: bigint; keep: boolean }

export interface ReplayPiece {
  addr: bigint
  range: bigint
  obj: string | null
  offset: bigint
}

/** What one request did. */
export interface ReplayRecord {
  request: ReplayRequest
  /** The split/merge steps of a bind or unbind, applied in order. */
  steps: ReplayStep[]
  /** Values the request returned (pin count, vmap address, validate result, ...). */
  result: Record<string, bigint | number | boolean | string | null>
  violations: { kind: string; obj: string | null; message: string; rule: string }[]
  warnings: Warning[]
  /** Set when the request failed and keepGoing let the replay go on. */
  error?: ReplayError
}

export interface ReplaySummary {
  requests: number
  vms: number
  objects: number
  ops: { map: number; remap: number; unmap: number }
  mappings: number
  pins: number
  vmaps: number
  locks: number
  validates: number
  bytesMoved: bigint
  evictions: bigint
  violations: number
  warnings: number
  errors: number
  stateFnv1a64: string
}

export interface ReplayResult {
  summary: ReplaySummary
  /** The device every object lives on. */
  device: Device
  /** Live VA spaces by name, in creation order. */
  vms: ReadonlyMap<string, GpuVm>
  /** Live objects by name, in creation order. */
  objects: ReadonlyMap<string, GemObject>
  /** The replay name of any object it created (destroyed ones too, while reachable). */
  nameOf(obj: GemObject): string | undefined
  /** The first errors recorded under keepGoing. */
  errors: ReplayError[]
}

interface Named<T> {
  value: T
  line: number
}

/**
 * Runs requests one line at a time. `feed` takes one line (without its
 * newline) and its 1-based number; `finish` returns the result. Synchronous:
 * use it directly when the lines are at hand, or through `replay` /
 * `replayFile`.
 */
export class Replayer {
  readonly file: string
  readonly engine: EngineName | undefined
  readonly keepGoing: boolean
  readonly maxLineBytes: number
  readonly maxHandles: number
  readonly #onRecord: ((record: ReplayRecord) => void) | undefined
  #device: Device | null = null
  readonly #vms = new Map<string, Named<GpuVm>>()
  readonly #objs = new Map<string, Named<GemObject>>()
  readonly #ctxs = new Map<string, Named<WwAcquireCtx>>()
  readonly #names = new WeakMap<GemObject, string>()
  /** Names whose create failed under keepGoing: later uses are simulation errors, not format errors. */
  readonly #failed = new Map<string, number>()
  readonly #errors: ReplayError[] = []
  readonly #s: Omit<ReplaySummary, 'mappings' | 'bytesMoved' | 'evictions' | 'stateFnv1a64'> = {
    requests: 0,
    vms: 0,
    objects: 0,
    ops: { map: 0, remap: 0, unmap: 0 },
    pins: 0,
    vmaps: 0,
    locks: 0,
    validates: 0,
    violations: 0,
    warnings: 0,
    errors: 0,
  }
  #lastLine = 0
  #finished = false

  constructor(options: ReplayOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new DrmError('EINVAL', 'replay options must be an object')
    this.file = options.file ?? 'replay.jsonl'
    this.engine = options.engine
    this.keepGoing = options.keepGoing === true
    this.maxLineBytes = limit(options.maxLineBytes, DEFAULT_MAX_LINE_BYTES, 'maxLineBytes')
    this.maxHandles = limit(options.maxHandles, DEFAULT_MAX_HANDLES, 'maxHandles')
    this.#onRecord = options.onRecord
  }

  get device(): Device {
    if (!this.#device) this.#device = new Device({ engine: this.engine })
    return this.#device
  }

  #at(line: number, field?: string) {
    return { file: this.file, line, field }
  }

  #format(line: number, field: string | undefined, message: string): never {
    throw new ReplayError('format', 'EINVAL', this.#at(line, field), message)
  }

  /**
   * One line. Blank lines and lines starting with `#` are skipped. `terminated`
   * false marks a last line with no newline: if it does not parse, the
   * message says it was truncated.
   */
  feed(text: string, line: number, terminated = true): ReplayRecord | undefined {
    if (this.#finished) throw new DrmError('EINVAL', 'this replay has finished')
    if (typeof text !== 'string') this.#format(line, undefined, `a line must be a string, got ${show(text)}`)
    this.#lastLine = line
    if (text.length > this.maxLineBytes || Buffer.byteLength(text) > this.maxLineBytes) {
      this.#format(line, undefined, `line longer than ${this.maxLineBytes} bytes`)
    }
    const trimmed = text.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return undefined
    if (nestsTooDeep(trimmed)) this.#format(line, undefined, `bad JSON: nested more than ${MAX_LINE_DEPTH} deep`)
    let value: unknown
    try {
      value = JSON.parse(trimmed)
    } catch (err) {
      const why = (err as Error).message
      this.#format(line, undefined, terminated ? `bad JSON: ${why}` : `truncated last line (no newline at the end, and not valid JSON: ${why})`)
    }
    const req = checkRequest(value, this.file, line)
    if (req.op === 'device' && (this.#device || this.#s.requests > 0)) {
      this.#format(line, 'op', '"device" must be the first request (it sets up the device the others use)')
    }
    this.#s.requests++
    return this.run(req)
  }

  /** Runs one checked request. */
  run(req: ReplayRequest): ReplayRecord {
    const record: ReplayRecord = { request: req, steps: [], result: {}, violations: [], warnings: [] }
    try {
      this.#resolveAndRun(req, record)
    } catch (err) {
      if (err instanceof ReplayError && err.kind === 'format') throw err
      if (!(err instanceof DrmError)) throw err
      const e =
        err instanceof ReplayError
          ? err
          : new ReplayError('simulation', err.errno, this.#at(req.line), `${req.op}: ${err.message}`, { cause: err })
      this.#s.errors++
      record.error = e
      if (!this.keepGoing) {
        this.#collect(record)
        this.#onRecord?.(record)
        throw e
      }
      if (this.#errors.length < KEPT_ERRORS) this.#errors.push(e)
    }
    this.#collect(record)
    this.#onRecord?.(record)
    return record
  }

  /** Gathers the violations the device recorded (so none pile up inside it). */
  #collect(record: ReplayRecord): void {
    if (!this.#device) return
    for (const v of this.#device.takeViolations()) {
      const obj = v.object ? this.#device.object(v.object) : undefined
      record.violations.push({ kind: v.kind, obj: obj ? (this.#names.get(obj) ?? `#${v.object}`) : null, message: v.message, rule: v.rule })
      this.#s.violations++
    }
  }

  #warnings(vm: GpuVm, record: ReplayRecord): void {
    const w = vm.takeWarnings()
    record.warnings.push(...w)
    this.#s.warnings += w.length
  }

  #handles(): number {
    return this.#vms.size + this.#objs.size + this.#ctxs.size
  }

  #create<T>(map: Map<string, Named<T>>, what: string, field: string, name: string, line: number, make: () => T): T {
    const old = map.get(name)
    if (old) this.#format(line, field, `duplicate ${what} name ${show(name)} (created at line ${old.line} and not destroyed)`)
    if (this.#handles() >= this.maxHandles) {
      this.#format(line, field, `too many live handles (VMs + objects + contexts): the limit is ${this.maxHandles}`)
    }
    this.#failed.delete(`${what}:${name}`)
    try {
      const value = make()
      map.set(name, { value, line })
      return value
    } catch (err) {
      if (this.#failed.size < this.maxHandles) this.#failed.set(`${what}:${name}`, line)
      throw err
    }
  }

  #get<T>(map: Map<string, Named<T>>, what: string, field: string, name: string, line: number): T {
    const h = map.get(name)
    if (h) return h.value
    const failedAt = this.#failed.get(`${what}:${name}`)
    if (failedAt !== undefined) {
      throw new ReplayError('simulation', 'EINVAL', this.#at(line, field), `${what} ${show(name)} does not exist: its creation at line ${failedAt} failed`)
    }
    return this.#format(line, field, `unknown ${what} ${show(name)} (not created, or destroyed)`)
  }

  #vm(req: ReplayRequest): GpuVm {
    return this.#get(this.#vms, 'vm', 'vm', req.vm!, req.line)
  }

  #obj(req: ReplayRequest, field = 'obj', name = req.obj as string): GemObject {
    return this.#get(this.#objs, 'obj', field, name, req.line)
  }

  /** Does the replay's thread hold this object's reservation lock? */
  #held(obj: GemObject): boolean {
    const r = obj.resv
    return r.isLocked && r.holder === this.device.thread
  }

  #resolveAndRun(req: ReplayRequest, record: ReplayRecord): void {
    const out = record.result
    switch (req.op) {
      case 'device': {
        const memory: Record<string, bigint> = {}
        if (req.vram !== undefined) memory.vram = req.vram
        if (req.gtt !== undefined) memory.gtt = req.gtt
        if (req.system !== undefined) memory.system = req.system
        const options: DeviceOptions & { memory?: Record<string, bigint> } = { engine: this.engine, memory }
        if (req.profile) options.profile = req.profile
        if (req.wwClass) options.wwClass = req.wwClass
        this.#device = new Device(options)
        return
      }
      case 'vm.create': {
        const device = this.device
        const vm = this.#create(this.#vms, 'vm', 'vm', req.vm!, req.line, () => {
          const vm = new GpuVm({ name: req.vm, start: req.start ?? 0n, range: req.range!, reserve: req.reserve ?? null, engine: this.engine })
          device.attachVm(vm)
          return vm
        })
        this.#s.vms++
        this.#warnings(vm, record)
        return
      }
      case 'vm.destroy': {
        const vm = this.#vm(req)
        this.#vms.delete(req.vm!)
        vm.destroy()
        this.#warnings(vm, record)
        return
      }
      case 'obj.create': {
        const device = this.device
        const shared = req.resv === undefined ? undefined : this.#obj(req, 'resv', req.resv)
        const obj = this.#create(this.#objs, 'obj', 'obj', req.obj!, req.line, () =>
          device.createObject({ size: req.size!, profile: req.profile, resv: shared }),
        )
        this.#names.set(obj, req.obj!)
        this.#s.objects++
        out.id = obj.id
        out.domain = obj.domain
        return
      }
      case 'obj.destroy': {
        const obj = this.#obj(req)
        this.#objs.delete(req.obj!)
        out.freed = obj.put()
        return
      }
      case 'bind':
      case 'unbind': {
        const vm = this.#vm(req)
        const obj = req.obj == null ? null : this.#obj(req)
        const steps =
          req.op === 'bind'
            ? vm.mapSteps({ addr: req.addr!, range: req.range!, obj, offset: req.offset ?? 0n })
            : vm.unmapSteps(req.addr!, req.range!)
        try {
          for (const op of steps) {
            const step = this.#step(op)
            vm.apply(op)
            record.steps.push(step)
            this.#s.ops[step.kind]++
          }
        } finally {
          this.#warnings(vm, record)
        }
        return
      }
      case 'pin': {
        const obj = this.#obj(req)
        const domain = req.domain ?? 'current'
        out.count = this.#held(obj) ? obj.pinLocked(domain) : obj.pin(domain)
        out.domain = obj.pinDomain
        this.#s.pins++
        return
      }
      case 'unpin': {
        const obj = this.#obj(req)
        out.count = this.#held(obj) ? obj.unpinLocked() : obj.unpin()
        return
      }
      case 'vmap': {
        const obj = this.#obj(req)
        const m = this.#held(obj) ? obj.vmapLocked() : obj.vmap()
        out.count = obj.vmapCount
        out.addr = m.addr
        out.iomem = m.iomem
        this.#s.vmaps++
        return
      }
      case 'vunmap': {
        const obj = this.#obj(req)
        out.count = this.#held(obj) ? obj.vunmapLocked() : obj.vunmap()
        return
      }
      case 'ctx.init': {
        const device = this.device
        this.#create(this.#ctxs, 'ctx', 'ctx', req.ctx!, req.line, () => device.acquireCtx())
        return
      }
      case 'ctx.fini': {
        const ctx = this.#get(this.#ctxs, 'ctx', 'ctx', req.ctx!, req.line)
        this.#ctxs.delete(req.ctx!)
        ctx.fini()
        return
      }
      case 'lock': {
        const obj = this.#obj(req)
        const ctx = req.ctx === undefined ? null : this.#get(this.#ctxs, 'ctx', 'ctx', req.ctx, req.line)
        obj.resv.lock(ctx)
        out.resv = obj.resv.id
        this.#s.locks++
        return
      }
      case 'unlock': {
        this.#obj(req).resv.unlock()
        return
      }
      case 'validate': {
        const obj = this.#obj(req)
        const device = this.device as unknown as { validate?: (o: GemObject, p: ReplayPlace[]) => { moved: boolean; bytesMoved: bigint; evictions: number } }
        if (typeof device.validate !== 'function') this.#format(req.line, 'op', 'validate needs the placement API, which this build lacks')
        const r = device.validate!.call(this.device, obj, req.placement!)
        out.moved = r.moved
        out.bytesMoved = r.bytesMoved
        out.evictions = r.evictions
        out.domain = obj.domain
        out.offset = obj.offset
        this.#s.validates++
        return
      }
    }
  }

  #name(obj: GemObject | null): string | null {
    return obj === null ? null : (this.#names.get(obj) ?? `#${obj.id}`)
  }

  #step(op: Op): ReplayStep {
    switch (op.kind) {
      case 'map':
        return { kind: 'map', addr: op.map.addr, range: op.map.range, obj: this.#name(op.map.obj), offset: op.map.offset }
      case 'remap': {
        const piece = (p: typeof op.prev): ReplayPiece | null =>
          p && { addr: p.addr, range: p.range, obj: this.#name(p.obj), offset: p.offset }
        const va = op.unmap.va
        return { kind: 'remap', addr: va.addr, range: va.range, keep: op.unmap.keep, prev: piece(op.prev), next: piece(op.next) }
      }
      case 'unmap':
        return { kind: 'unmap', addr: op.va.addr, range: op.va.range, obj: this.#name(op.va.obj), offset: op.va.offset, keep: op.keep }
      default:
        throw new DrmError('EINVAL', `unexpected ${op.kind} step`)
    }
  }

  /** Ends the replay: the summary, and the live state for pictures. EINVAL (format) when no request was seen. */
  finish(): ReplayResult {
    if (this.#s.requests === 0) {
      this.#format(Math.max(1, this.#lastLine), undefined, this.#lastLine === 0 ? 'empty file: no requests' : 'no requests (only blank or comment lines)')
    }
    this.#finished = true
    const device = this.device
    const totals = (device as unknown as { placementTotals?: { bytesMoved: bigint; evictions: bigint } }).placementTotals
    const hash = new Fnv1a64()
    let mappings = 0
    for (const [name, { value: vm }] of this.#vms) {
      hash.update(`vm ${name}\n`)
      for (const va of vm.vas()) {
        if (va.isKernelNode) continue
        mappings++
        hash.update(`${hex(va.addr)} ${hex(va.range)} ${this.#name(va.obj) ?? '-'} ${hex(va.offset)}\n`)
      }
    }
    const names = this.#names
    return {
      summary: {
        ...this.#s,
        ops: { ...this.#s.ops },
        mappings,
        bytesMoved: totals?.bytesMoved ?? 0n,
        evictions: totals?.evictions ?? 0n,
        stateFnv1a64: hash.value.toString(16).padStart(16, '0'),
      },
      device,
      vms: new Map([...this.#vms].map(([k, v]) => [k, v.value])),
      objects: new Map([...this.#objs].map(([k, v]) => [k, v.value])),
      nameOf: (obj) => names.get(obj),
      errors: [...this.#errors],
    }
  }
}

function limit(v: unknown, fallback: number, what: string): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new DrmError('EINVAL', `${what} must be a positive integer, got ${show(v)}`)
  return v
}

const hex = (n: bigint | number): string => '0x' + n.toString(16)

/**
 * Replays requests: a whole text (split at newlines), or lines from any
 * iterable or async iterable (one request per item).
 */
export async function replay(
  lines: string | Iterable<string> | AsyncIterable<string>,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const r = new Replayer(options)
  if (typeof lines === 'string') {
    const parts = lines.split('\n')
    const terminated = parts.at(-1) === ''
    if (terminated) parts.pop()
    parts.forEach((text, i) => r.feed(text.replace(/\r$/, ''), i + 1, terminated || i < parts.length - 1))
    return r.finish()
  }
  if (lines === null || typeof lines !== 'object') throw new DrmError('EINVAL', `replay needs a string or an iterable of lines, got ${show(lines)}`)
  let n = 0
  if (Symbol.asyncIterator in lines) for await (const text of lines) r.feed(text, ++n)
  else if (Symbol.iterator in lines) for (const text of lines) r.feed(text, ++n)
  else throw new DrmError('EINVAL', 'replay needs a string or an iterable of lines')
  return r.finish()
}

export interface ReplayFileOptions extends ReplayOptions {
  /** Called now and then with the bytes read so far and the file's size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void
}

/**
 * Streams a JSON Lines file (or stdin for '-') into a Replayer. Lines are cut
 * from the byte stream with a bounded buffer: a line over `maxLineBytes`
 * fails as soon as it is seen, without being read whole.
 */
export async function replayFile(file: string, options: ReplayFileOptions = {}): Promise<ReplayResult> {
  const name = options.file ?? (file === '-' ? '<stdin>' : path.basename(file))
  const r = new Replayer({ ...options, file: name })
  let total = 0
  if (file !== '-') {
    try {
      const st = statSync(file)
      if (!st.isFile()) throw new Error('not a regular file')
      total = st.size
    } catch (err) {
      throw new ReplayError('format', 'EINVAL', { file: name, line: 0 }, `cannot read ${file}: ${(err as Error).message}`)
    }
  }
  const stream = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 64 * 1024 })
  try {
    for await (const { text, line, terminated } of splitLines(stream, r.maxLineBytes, name, (n) => options.onProgress?.(n, total))) {
      r.feed(text, line, terminated)
    }
  } finally {
    if (file !== '-') (stream as ReturnType<typeof createReadStream>).destroy()
  }
  return r.finish()
}

/** Cuts a byte stream into lines of at most `max` bytes (without the newline; a final \r is dropped). */
export async function* splitLines(
  stream: AsyncIterable<Uint8Array | string>,
  max: number,
  file = 'replay.jsonl',
  progress?: (bytesRead: number) => void,
): AsyncGenerator<{ text: string; line: number; terminated: boolean }> {
  let parts: Buffer[] = []
  let size = 0
  let line = 1
  let read = 0
  const tooLong = (): never => {
    throw new ReplayError('format', 'EINVAL', { file, line }, `line longer than ${max} bytes`)
  }
  const take = (last: Buffer): string => {
    let buf = parts.length ? Buffer.concat([...parts, last]) : last
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1)
    parts = []
    size = 0
    return buf.toString('utf8')
  }
  for await (const chunk of stream) {
    // Typed as Uint8Array so consumers need no Node types; a view, not a copy.
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    read += buf.length
    let from = 0
    for (let nl = buf.indexOf(0x0a, from); nl >= 0; nl = buf.indexOf(0x0a, from)) {
      if (size + (nl - from) > max + 1) tooLong()
      const text = take(buf.subarray(from, nl))
      if (Buffer.byteLength(text) > max) tooLong()
      yield { text, line: line++, terminated: true }
      from = nl + 1
    }
    const rest = buf.subarray(from)
    if (size + rest.length > max + 1) tooLong()
    if (rest.length) {
      parts.push(Buffer.from(rest))
      size += rest.length
    }
    progress?.(read)
  }
  if (size > 0) {
    const text = take(Buffer.alloc(0))
    if (Buffer.byteLength(text) > max) tooLong()
    yield { text, line, terminated: false }
  }
}

// --- output formats -----------------------------------------------------------

const piece = (p: ReplayPiece | null): string => (p === null ? '-' : `${hex(p.addr)},${hex(p.range)},${p.obj ?? '-'},${hex(p.offset)}`)

/** The trace line of a step, as `drmsim vmbind --trace` prints them (objects by name, '-' for none). */
export function stepLine(step: ReplayStep): string {
  switch (step.kind) {
    case 'map':
      return `op map ${hex(step.addr)} ${hex(step.range)} ${step.obj ?? '-'} ${hex(step.offset)}`
    case 'remap':
      return `op remap ${hex(step.addr)} ${hex(step.range)} keep=${step.keep ? 1 : 0} prev=${piece(step.prev)} next=${piece(step.next)}`
    case 'unmap':
      return `op unmap ${hex(step.addr)} ${hex(step.range)} ${step.obj ?? '-'} ${hex(step.offset)} keep=${step.keep ? 1 : 0}`
  }
}

const POSITIONAL = ['vm', 'addr', 'range', 'obj', 'offset'] as const
const KEYED = ['resv', 'start', 'size', 'reserve', 'domain', 'placement', 'vram', 'gtt', 'system', 'profile', 'wwClass'] as const

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())

function textValue(key: string, v: unknown): string {
  if (v === null) return '-'
  if (typeof v === 'bigint') return hex(v)
  if (typeof v === 'boolean') return v ? '1' : '0'
  if (key === 'reserve') {
    const r = v as { offset: bigint; range: bigint }
    return `${hex(r.offset)},${hex(r.range)}`
  }
  if (key === 'placement') {
    const places = v as ReplayPlace[]
    if (places.length === 0) return '(none)'
    return places.map((p) => [p.domain, p.desired && 'desired', p.fallback && 'fallback', p.topDown && 'topdown'].filter(Boolean).join(':')).join(',')
  }
  return String(v)
}

/**
 * Text lines for one record: the request (`req LINE OP` then vm, addr, range,
 * obj, offset in vmbind's order, then key=value fields), its steps, what it
 * returned, violations, warnings, and the error.
 */
export function recordLines(record: ReplayRecord): string[] {
  const req = record.request
  const r = req as unknown as Record<string, unknown>
  const fields: string[] = []
  for (const key of POSITIONAL) if (r[key] !== undefined) fields.push(textValue(key, r[key]))
  if (req.ctx !== undefined) fields.push(req.op.startsWith('ctx.') ? req.ctx : `ctx=${req.ctx}`)
  for (const key of KEYED) if (r[key] !== undefined) fields.push(`${snake(key)}=${textValue(key, r[key])}`)
  const lines = [`req ${req.line} ${req.op}${fields.length ? ' ' + fields.join(' ') : ''}`]
  for (const step of record.steps) lines.push(stepLine(step))
  const result = Object.entries(record.result)
  if (result.length) {
    const subject = req.obj ?? req.vm ?? req.ctx ?? ''
    lines.push(`${req.op} ${subject} ${result.map(([k, v]) => `${snake(k)}=${textValue(k, v)}`).join(' ')}`)
  }
  for (const v of record.violations) lines.push(`violation ${v.kind}${v.obj ? ' ' + v.obj : ''}: ${v.message}`)
  for (const w of record.warnings) lines.push(`warning ${w.kind}: ${w.message}`)
  if (record.error) lines.push(`error ${record.error.message}`)
  return lines
}

function jsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') return hex(v)
  if (Array.isArray(v)) return v.map(jsonValue)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)]))
  return v
}

/** One record as a JSON object: u64 values as 0x hex strings. */
export function recordJson(record: ReplayRecord): Record<string, unknown> {
  const out: Record<string, unknown> = jsonValue(record.request) as Record<string, unknown>
  // As the file has it, so a record's request can be replayed again.
  if (record.request.reserve) out.reserve = [hex(record.request.reserve.offset), hex(record.request.reserve.range)]
  if (record.steps.length) out.steps = jsonValue(record.steps)
  if (Object.keys(record.result).length) out.result = jsonValue(record.result)
  if (record.violations.length) out.violations = record.violations
  if (record.warnings.length) out.warnings = record.warnings.map((w) => ({ kind: w.kind, message: w.message, rule: w.rule }))
  if (record.error) out.error = errorJson(record.error)
  return out
}

export function errorJson(e: ReplayError): Record<string, unknown> {
  return { kind: e.kind, errno: e.errno, file: e.file, line: e.line, ...(e.field ? { field: e.field } : {}), message: e.message }
}

/** The summary as text lines (`key value`, counts in decimal, bytes in hex). */
export function summaryText(s: ReplaySummary): string {
  return (
    [
      `requests ${s.requests}`,
      `vms ${s.vms}`,
      `objects ${s.objects}`,
      `ops map=${s.ops.map} remap=${s.ops.remap} unmap=${s.ops.unmap}`,
      `mappings ${s.mappings}`,
      `pins ${s.pins}`,
      `vmaps ${s.vmaps}`,
      `locks ${s.locks}`,
      `validates ${s.validates} bytes_moved=${hex(s.bytesMoved)} evictions=${s.evictions}`,
      `violations ${s.violations}`,
      `warnings ${s.warnings}`,
      `errors ${s.errors}`,
      `state_fnv1a64 ${s.stateFnv1a64}`,
    ].join('\n') + '\n'
  )
}

export function summaryJson(s: ReplaySummary): Record<string, unknown> {
  return jsonValue(s) as Record<string, unknown>
}
