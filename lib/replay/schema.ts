/**
 * The replay line format: its ops and their fields (`REPLAY_OPS`), the checked
 * request a line becomes (`ReplayRequest`), the checks that turn a parsed line
 * into one, and `ReplayError`, which names the file, the line and the field.
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
import { DrmError, type Errno } from '../base/errors.js'
import { U64_MAX } from '../base/check.js'
import {
  DOMAINS,
  PROFILES,
  WW_CLASSES,
  type DomainName,
  type ProfileName,
  type WwClassName,
} from '../contract/device.js'

// --- limits -------------------------------------------------------------------

/** Longest accepted line, in bytes (newline excluded). */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024
/** Most VMs + objects + acquire contexts alive at once. */
export const DEFAULT_MAX_HANDLES = 1_000_000
const MAX_NAME = 128
const MAX_PLACES = 8

/**
 * Deepest nesting of arrays and objects a line may have. The schema's lines
 * nest 3 deep; what reads a parsed value (the checks, `show`'s
 * JSON.stringify) recurses as deep as it nests, and overflows the stack on a
 * line of thousands of `[`, so deeper lines are refused before parsing.
 */
export const MAX_LINE_DEPTH = 64

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

const OPS = {
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

export type ReplayOpName = keyof typeof OPS

/** Every op, its required and optional fields. Unknown fields are refused (typos would pass silently). */
export const REPLAY_OPS: Readonly<Record<string, OpSchema>> = OPS

/** A place of a `validate` placement. */
export interface ReplayPlace {
  domain: Exclude<DomainName, 'current'>
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
  domain?: DomainName
  placement?: ReplayPlace[]
  profile?: ProfileName
  wwClass?: WwClassName
}

const U64_TEXT = /^(0[xX][0-9a-fA-F]+|[0-9]+)$/
const NAME = /^[\x21-\x7e]+$/
/** The domains a place may name: every pin domain but 'current'. */
const PLACE_DOMAINS = DOMAINS.filter((d) => d !== 'current')

/** A short, printable rendering of a JSON value for messages. */
export function show(value: unknown): string {
  let text: string
  try {
    text = value === undefined ? 'nothing' : JSON.stringify(value)
  } catch {
    // Not String(value): an array's toString recurses as deep as it nests.
    text = Object.prototype.toString.call(value)
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** Whether the JSON text `text` nests arrays and objects deeper than `MAX_LINE_DEPTH`. */
export function nestsTooDeep(text: string): boolean {
  // Valid JSON nested d deep has at least 2d characters; shorter invalid JSON fails to parse.
  if (text.length <= 2 * MAX_LINE_DEPTH) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // a backslash: skip the escaped character
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
      fail(
        key,
        `unknown field for "${op}"${allowed.length ? `; expected ${allowed.join(', ')}` : ' (it takes no fields)'}`,
      )
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
  const out: ReplayPlace = {
    domain: oneOf(o.domain, PLACE_DOMAINS, (m) => fail(`domain: ${m}`)) as ReplayPlace['domain'],
  }
  for (const key of Object.keys(o)) {
    if (key === 'domain') continue
    if (key !== 'desired' && key !== 'fallback' && key !== 'topDown')
      fail(`unknown key ${show(key)}; expected domain, desired, fallback, topDown`)
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
    if (!Number.isSafeInteger(v))
      fail(`${U64_HELP}, got the number ${show(v)}, above 2^53 where JSON numbers lose precision: write it as a string`)
    return BigInt(v)
  }
  if (typeof v !== 'string' || v.length > 66 || !U64_TEXT.test(v)) fail(`${U64_HELP}, got ${show(v)}`)
  const n = BigInt(v as string)
  if (n > U64_MAX) fail(`${U64_HELP}, got ${show(v)}, which is 2^64 or more`)
  return n
}
