/**
 * The field builders of the replay line schema (schema.ts): one zod schema per
 * field kind (`FIELDS`: u64s, names, places, the reserve node, errnos, expected
 * mappings, an array's ops...), each with a message made from the value it
 * refuses, and the registry of their documentation for the JSON Schema.
 */
import type { z as Zod } from 'zod'
import { ERRNO_NAMES, type Errno } from '../base/errors.js'
import { U64_MAX } from '../base/check.js'
import { DOMAINS, PROFILES, USAGES, WW_CLASSES, type DomainName } from '../contract/device.js'
import { ERAS } from '../contract/hub.js'
import type { Kind, ReplayPlace } from './schema.js'

const MAX_NAME = 128
const MAX_PLACES = 8
/** Most objects a `vm.exec_lock` line may name in `objs`. */
const MAX_OBJS = 256

/** Most mappings one `expect` line may list. */
const MAX_EXPECTED = 4096

const U64_TEXT = /^(0[xX][0-9a-fA-F]+|[0-9]+)$/
const NAME = /^[\x21-\x7e]+$/
/** The domains a place may name: every pin domain but 'current'. */
const PLACE_DOMAINS = DOMAINS.filter((d) => d !== 'current') as Exclude<DomainName, 'current'>[]
const PLACE_FLAGS = ['desired', 'fallback', 'topDown'] as const

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

// Every schema below carries its own message, made from the value it refused: whichever of a
// union's issues zod reports, the message is the one the field's documentation promises.

/**
 * The schemas' documentation for the JSON Schema (descriptions, and ids for
 * those shared through $defs), kept in a registry of this module's own rather
 * than zod's global one, where ids must be unique per process (`loadFields`
 * makes it).
 */
const registry = () => z.registry<{ id?: string; title?: string; description?: string }>()
let DOCS!: ReturnType<typeof registry>

/** zod's error option: a message made from the refused value, or from its absence. */
export const says = (message: (input: unknown) => string) => ({
  error: (issue: { input?: unknown }) => message(issue.input),
})

const U64_HELP = 'must be a u64 (decimal or 0x hex string)'
const U64_DOC = 'A u64: a decimal or 0x hex string, or a JSON number below 2^53.'
const NAME_DOC = `A handle name: 1 to ${MAX_NAME} printable ASCII characters, no spaces.`

function u64Message(v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && !Number.isSafeInteger(v))
    return `${U64_HELP}, got the number ${show(v)}, above 2^53 where JSON numbers lose precision: write it as a string`
  if (typeof v === 'string' && v.length <= 66 && U64_TEXT.test(v) && BigInt(v) > U64_MAX)
    return `${U64_HELP}, got ${show(v)}, which is 2^64 or more`
  return `${U64_HELP}, got ${show(v)}`
}

/** A u64: a decimal or 0x hex string up to 2^64 - 1, or a JSON number up to 2^53 - 1; read as a bigint. */
function u64(message: (input: unknown) => string = u64Message) {
  return z
    .union(
      [
        z.int(says(message)).min(0, says(message)).max(Number.MAX_SAFE_INTEGER, says(message)),
        z
          .string(says(message))
          .max(66, says(message))
          .regex(U64_TEXT, says(message))
          .refine((v) => BigInt(v) <= U64_MAX, says(message)),
      ],
      says(message),
    )
    .transform((v) => BigInt(v))
    .register(DOCS, { description: U64_DOC })
}

const nameMessage = (v: unknown) =>
  `must be a name (1 to ${MAX_NAME} printable ASCII characters, no spaces), got ${show(v)}`

function name() {
  return z
    .string(says(nameMessage))
    .min(1, says(nameMessage))
    .max(MAX_NAME, says(nameMessage))
    .regex(NAME, says(nameMessage))
    .register(DOCS, { description: NAME_DOC })
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(
    values,
    says((v) => `must be one of ${values.join(', ')}, got ${show(v)}`),
  )
}

const placeHelp = '{"domain":..., "desired"|"fallback"|"topDown": true}'

/** A place: a domain name, or an object naming the domain with TTM's place flags. */
function place() {
  const flags = Object.fromEntries(
    PLACE_FLAGS.map((key) => [key, z.boolean(says((v) => `${key} must be true or false, got ${show(v)}`)).optional()]),
  ) as Record<(typeof PLACE_FLAGS)[number], Zod.ZodOptional<Zod.ZodBoolean>>
  const flagged = z.strictObject(
    { domain: oneOf(PLACE_DOMAINS as [string, ...string[]]), ...flags },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown key ${show(issue.keys[0])}; expected domain, ${PLACE_FLAGS.join(', ')}`
          : `must be a domain name or ${placeHelp}, got ${show(issue.input)}`,
    },
  )
  return z
    .union([oneOf(PLACE_DOMAINS as [string, ...string[]]), flagged], {
      error: (issue) => {
        // Neither form fits: report the one the value is written in.
        const v = issue.input
        const form = typeof v === 'string' ? 0 : typeof v === 'object' && v !== null && !Array.isArray(v) ? 1 : -1
        if (form < 0 || issue.code !== 'invalid_union') return `must be a domain name or ${placeHelp}, got ${show(v)}`
        const inner = issue.errors[form][0]
        const key = inner.path.length && inner.path[0] === 'domain' ? 'domain: ' : ''
        return `${key}${inner.message}`
      },
    })
    .transform((p): ReplayPlace => {
      if (typeof p === 'string') return { domain: p as ReplayPlace['domain'] }
      const out: ReplayPlace = { domain: p.domain as ReplayPlace['domain'] }
      for (const key of PLACE_FLAGS) if (p[key]) out[key] = true
      return out
    })
}

// One schema for the fields of each plain kind, so that the JSON Schema defines it once ($defs).
let U64_FIELD!: ReturnType<typeof u64>
let NAME_FIELD!: ReturnType<typeof name>
let PLACE_FIELD!: ReturnType<typeof place>

/** A `bind.array` line's ops (at most 4096): binds and unbinds with the fields of their own lines but `vm`. */
function arrayOps() {
  const op = (name: string, fields: string, shape: Record<string, Zod.ZodType>) =>
    z.strictObject(
      { op: z.literal(name), addr: U64_FIELD, range: U64_FIELD, ...shape },
      says((v) => `a "${name}" op takes ${fields}, got ${show(v)}`),
    )
  const bind = op('bind', 'op, addr, range, obj, offset', {
    obj: NAME_FIELD.nullable().optional(),
    offset: U64_FIELD.optional(),
  })
  const one = z.discriminatedUnion(
    'op',
    [bind, op('unbind', 'op, addr, range', {})],
    says((v) => `must be {"op":"bind"|"unbind", ...}, got ${show(v)}`),
  )
  return z
    .array(
      one,
      says((v) => `must be an array of bind/unbind ops, got ${show(v)}`),
    )
    .max(
      4096,
      says((v) => `at most 4096 ops, got ${(v as unknown[]).length}`),
    )
    .register(DOCS, { description: 'The binds of an atomic array, in order: bind or unbind ops.' })
}

const u32Message = (v: unknown) => `must be an integer in [0, 2^32 - 1], got ${show(v)}`

const FIELDS = {
  u64: () => U64_FIELD,
  name: () => NAME_FIELD,
  names: () =>
    z
      .array(
        NAME_FIELD,
        says((v) => `must be an array of names, got ${show(v)}`),
      )
      .max(
        MAX_OBJS,
        says((v) => `at most ${MAX_OBJS} names, got ${(v as unknown[]).length}`),
      )
      .register(DOCS, { description: 'Object names.' }),
  u32: () =>
    z
      .int(says(u32Message))
      .min(0, says(u32Message))
      .max(0xffff_ffff, says(u32Message))
      .register(DOCS, { description: 'A JSON number in [0, 2^32 - 1].' }),
  bool: () => z.boolean(says((v) => `must be true or false, got ${show(v)}`)),
  era: () => oneOf(ERAS),
  usage: () => oneOf(USAGES),
  objOrNull: () =>
    NAME_FIELD.nullable().register(DOCS, { description: 'An object name, or null for a sparse mapping.' }),
  reserve: () =>
    z
      .tuple(
        [u64((v) => `offset (item 0): ${u64Message(v)}`), u64((v) => `range (item 1): ${u64Message(v)}`)],
        says((v) => `must be [offset, range] (two u64s) or null, got ${show(v)}`),
      )
      .nullable()
      .transform((v) => (v === null ? undefined : { offset: v[0], range: v[1] }))
      .register(DOCS, { description: 'The kernel-reserved node: [offset, range], or null for none.' }),
  domain: () => oneOf(DOMAINS),
  profile: () => oneOf(PROFILES),
  wwClass: () => oneOf(WW_CLASSES),
  placement: () =>
    z
      .array(
        PLACE_FIELD,
        says((v) => `must be an array of places, got ${show(v)}`),
      )
      .max(
        MAX_PLACES,
        says((v) => `at most ${MAX_PLACES} places, got ${(v as unknown[]).length}`),
      )
      .register(DOCS, { description: 'Places in order of preference; [] purges the backing store.' }),
  // Expectations (expect.ts).
  // Every errno a request may expect (`expectErrno`): all the kernel errnos drmsim reports.
  errno: () => oneOf(ERRNO_NAMES as readonly Errno[] as [Errno, ...Errno[]]),
  mappings: () =>
    z
      .array(
        z.tuple(
          [
            u64((v) => `addr (item 0): ${u64Message(v)}`),
            u64((v) => `range (item 1): ${u64Message(v)}`),
            NAME_FIELD.nullable(),
            u64((v) => `offset (item 3): ${u64Message(v)}`),
          ],
          says((v) => `must be [addr, range, obj or null, offset], got ${show(v)}`),
        ),
        says((v) => `must be an array of [addr, range, obj or null, offset], got ${show(v)}`),
      )
      .max(
        MAX_EXPECTED,
        says((v) => `at most ${MAX_EXPECTED} mappings, got ${(v as unknown[]).length}`),
      )
      .register(DOCS, { description: 'Mappings in address order: [addr, range, obj or null (sparse), offset] each.' }),
  interval: () =>
    z
      .tuple(
        [u64((v) => `addr (item 0): ${u64Message(v)}`), u64((v) => `range (item 1): ${u64Message(v)}`)],
        says((v) => `must be [addr, range] (two u64s), got ${show(v)}`),
      )
      .register(DOCS, { description: 'An interval: [addr, range].' }),
  arrayOps,
} satisfies Record<Kind, () => Zod.ZodType>

// zod (~45 ms to load) is required when the first line is checked, not when
// drmsim is imported: a process that never replays does not pay for it.
let z!: typeof Zod
let loaded: { docs: typeof DOCS; fields: typeof FIELDS } | undefined

/**
 * Loads zod and makes the shared field schemas, once: then `FIELDS` builds
 * each kind's schema, and `docs` holds their documentation for the JSON Schema.
 */
export function loadFields(): { zod: typeof Zod; docs: typeof DOCS; fields: typeof FIELDS } {
  if (loaded === undefined) {
    z = (require('zod') as typeof import('zod')).z
    DOCS = registry()
    U64_FIELD = u64().register(DOCS, { id: 'u64', description: U64_DOC })
    NAME_FIELD = name().register(DOCS, { id: 'name', description: NAME_DOC })
    PLACE_FIELD = place().register(DOCS, { id: 'place', description: `A domain name, or ${placeHelp}.` })
    loaded = { docs: DOCS, fields: FIELDS }
  }
  return { zod: z, ...loaded }
}
