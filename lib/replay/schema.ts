/**
 * The replay line format: its ops and their fields (`REPLAY_OPS`), the zod
 * schema built from them (also published as a JSON Schema for editors:
 * schema/replay.schema.json, `replayJsonSchema`), the checked request a line becomes
 * (`ReplayRequest`), and `ReplayError`, which names the file, the line and
 * the field. zod and the schemas load when the first line is checked
 * (fields.ts `loadFields`), not when drmsim is imported.
 *
 *   {"op":"device","vram":"0x10000000","gtt":"0x40000000"}      optional, first line only
 *   {"op":"vm.create","vm":"a","range":"0x1000000000000","reserve":["0","0x1000"]}
 *   {"op":"obj.create","obj":"bo1","size":"0x100000"}
 *   {"op":"bind","vm":"a","addr":"0x100000","range":"0x3000","obj":"bo1","offset":"0"}
 *   {"op":"unbind","vm":"a","addr":"0x101000","range":"0x1000"}
 *   {"op":"lock","obj":"bo1"}  {"op":"validate","obj":"bo1","placement":["vram","gtt"]}  {"op":"unlock","obj":"bo1"}
 *   {"op":"pin","obj":"bo1","domain":"vram"}  {"op":"unpin","obj":"bo1"}  {"op":"vmap","obj":"bo1"}  {"op":"vunmap","obj":"bo1"}
 *   {"op":"obj.destroy","obj":"bo1"}  {"op":"vm.destroy","vm":"a"}
 *
 * Expectations (expect.ts): what the VA space holds at that point, and the
 * errno a request must fail with (`expectErrno`, which any request may carry):
 *   {"op":"expect","vm":"a","mappings":[["0x100000","0x3000","bo1","0"]],"count":1,"free":["0x200000","0x1000"]}
 *   {"op":"unbind","vm":"a","addr":"0x100000","range":"0x1000","expectErrno":"EINVAL"}
 *
 * The drm_gpuvm hub (a `vm.create` naming `era`, `resvProtected` or
 * `immediateMode` makes one on the device; see `HUB_OPS`):
 *   {"op":"vm.create","vm":"a","range":"0x1000000000000","era":"drm_gpuvm-7.2","immediateMode":true}
 *   {"op":"obj.create","obj":"priv","size":"0x10000","vm":"a"}       shares the VM's reservation
 *   {"op":"vmbo.obtain","vm":"a","obj":"bo1"}  {"op":"vmbo.put","vm":"a","obj":"bo1","deferred":true}
 *   {"op":"vm.exec_lock","vm":"a","exec":"job","numFences":1}  {"op":"vm.validate","exec":"job","placement":["vram"]}
 *   {"op":"vm.resv_add_fence","exec":"job"}  {"op":"vm.exec_unlock","exec":"job"}
 *
 * Bind queues and fences (queue.ts): fence.create, fence.signal, fence.expect, queue.create,
 * queue.bind, queue.destroy, clock.advance.
 */
import type { z as Zod } from 'zod'
import { DrmError, type Errno } from '../base/errors.js'
import type { DomainName, ProfileName, UsageName, WwClassName } from '../contract/device.js'
import type { EraName } from '../contract/hub.js'
import type { ReplayArrayOp } from './array.js'
import { loadFields, says, show } from './fields.js'

// --- limits -------------------------------------------------------------------

/** Longest accepted line, in bytes (newline excluded). */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024
/** Most VMs + objects + acquire contexts + exec contexts alive at once. */
export const DEFAULT_MAX_HANDLES = 1_000_000

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

/** The kinds of field a line may have; `FIELDS` (fields.ts) builds the schema of each. */
export type Kind =
  | 'name'
  | 'names'
  | 'u64'
  | 'u32'
  | 'bool'
  | 'reserve'
  | 'objOrNull'
  | 'domain'
  | 'placement'
  | 'profile'
  | 'wwClass'
  | 'era'
  | 'usage'
  // Expectations (expect.ts).
  | 'errno'
  | 'mappings'
  | 'interval'
  | 'arrayOps'

interface OpSchema {
  required: Record<string, Kind>
  optional: Record<string, Kind>
}

const s = (required: Record<string, Kind>, optional: Record<string, Kind> = {}): OpSchema => ({ required, optional })

const OPS = {
  device: s({}, { vram: 'u64', gtt: 'u64', system: 'u64', profile: 'profile', wwClass: 'wwClass' }),
  'vm.create': s(
    { vm: 'name', range: 'u64' },
    { start: 'u64', reserve: 'reserve', era: 'era', resvProtected: 'bool', immediateMode: 'bool' },
  ),
  'vm.destroy': s({ vm: 'name' }),
  'obj.create': s({ obj: 'name', size: 'u64' }, { profile: 'profile', resv: 'name', vm: 'name' }),
  'obj.destroy': s({ obj: 'name' }),
  bind: s({ vm: 'name', addr: 'u64', range: 'u64' }, { obj: 'objOrNull', offset: 'u64', exec: 'name' }),
  unbind: s({ vm: 'name', addr: 'u64', range: 'u64' }, { exec: 'name' }),
  // Atomic bind arrays (lib/replay/array.ts).
  'bind.array': s({ vm: 'name', ops: 'arrayOps' }, { failAt: 'u32' }),
  // Bind queues and fences (lib/replay/queue.ts).
  'fence.create': s({ fence: 'name' }, { signalAt: 'u64', errno: 'errno' }),
  'fence.signal': s({ fence: 'name' }, { errno: 'errno' }),
  'fence.expect': s({ fence: 'name' }, { signaled: 'bool', signalAt: 'u64', errno: 'errno' }),
  'queue.create': s({ vm: 'name', queue: 'name' }, { latency: 'u64', perStep: 'u64' }),
  'queue.bind': s({ queue: 'name', ops: 'arrayOps' }, { inFences: 'names', outFence: 'name', failAt: 'u32' }),
  'queue.destroy': s({ queue: 'name' }),
  'clock.advance': s({ ns: 'u64' }),
  pin: s({ obj: 'name' }, { domain: 'domain' }),
  unpin: s({ obj: 'name' }),
  vmap: s({ obj: 'name' }),
  vunmap: s({ obj: 'name' }),
  'ctx.init': s({ ctx: 'name' }),
  'ctx.fini': s({ ctx: 'name' }),
  lock: s({ obj: 'name' }, { ctx: 'name' }),
  unlock: s({ obj: 'name' }),
  // Expectations (expect.ts): the VA space's state at that point.
  expect: s({ vm: 'name' }, { mappings: 'mappings', count: 'u32', free: 'interval' }),
  validate: s({ obj: 'name', placement: 'placement' }),
  // The drm_gpuvm hub (HUB_OPS).
  'vm.get': s({ vm: 'name' }),
  'vm.put': s({ vm: 'name' }),
  'vm.info': s({ vm: 'name' }),
  'vm.deferred_cleanup': s({ vm: 'name' }),
  'vmbo.obtain': s({ vm: 'name', obj: 'name' }, { prealloc: 'bool' }),
  'vmbo.get': s({ vm: 'name', obj: 'name' }),
  'vmbo.put': s({ vm: 'name', obj: 'name' }, { deferred: 'bool' }),
  'vmbo.evict': s({ vm: 'name', obj: 'name' }, { evict: 'bool' }),
  'vmbo.extobj_add': s({ vm: 'name', obj: 'name' }),
  'vm.madvise': s({ vm: 'name', addr: 'u64', range: 'u64' }, { obj: 'objOrNull', offset: 'u64' }),
  'vm.exec_lock': s(
    { vm: 'name', exec: 'name' },
    { numFences: 'u32', objs: 'names', addr: 'u64', range: 'u64', ignoreDuplicates: 'bool' },
  ),
  'vm.sm_map_exec_lock': s(
    { vm: 'name', exec: 'name', addr: 'u64', range: 'u64' },
    { obj: 'objOrNull', offset: 'u64', numFences: 'u32', ignoreDuplicates: 'bool' },
  ),
  'vm.sm_unmap_exec_lock': s({ vm: 'name', exec: 'name', addr: 'u64', range: 'u64' }, { ignoreDuplicates: 'bool' }),
  'vm.validate': s({ exec: 'name', placement: 'placement' }),
  'vm.resv_add_fence': s({ exec: 'name' }, { privateUsage: 'usage', extobjUsage: 'usage' }),
  'vm.exec_unlock': s({ exec: 'name' }),
}

export type ReplayOpName = keyof typeof OPS

/** Every op, its required and optional fields. Unknown fields are refused (typos would pass silently). */
export const REPLAY_OPS: Readonly<Record<string, OpSchema>> = OPS

/**
 * The ops of the drm_gpuvm hub, in table order: they need a VA space made
 * as a drm_gpuvm (`vm.create` naming `era`, `resvProtected` or
 * `immediateMode`), or an exec context opened on one.
 */
export const HUB_OPS: readonly ReplayOpName[] = Object.freeze(
  (Object.keys(OPS) as ReplayOpName[]).slice(Object.keys(OPS).indexOf('vm.get')),
)

/** What each op runs, for the JSON Schema's descriptions. */
const OP_HELP: Record<ReplayOpName, string> = {
  device: 'The simulated device (first line only; default 256 MiB VRAM, 1 GiB GTT).',
  'vm.create': 'A GPU VA space attached to the device (new GpuVm).',
  'vm.destroy': 'Destroys a VA space (vm.destroy()); its name is free again.',
  'obj.create': 'A GEM object of the device (device.createObject).',
  'obj.destroy': 'Drops a GEM object (obj.put()); its name is free again.',
  bind: 'Maps [addr, addr + range) to obj at offset (or a sparse mapping), step by step (vm.mapSteps).',
  unbind: 'Unmaps [addr, addr + range), step by step (vm.unmapSteps).',
  pin: 'Pins the object (pinLocked under the replay lock, else pin).',
  unpin: 'Unpins the object (unpinLocked under the replay lock, else unpin).',
  vmap: 'vmapLocked under the lock, else the long-term vmap (which pins).',
  vunmap: 'vunmapLocked under the lock, else the long-term vunmap.',
  'ctx.init': 'An acquire context (ww_acquire_init).',
  'ctx.fini': 'Ends an acquire context (ww_acquire_fini).',
  lock: "Locks the object's reservation (obj.resv.lock(ctx)).",
  unlock: "Unlocks the object's reservation (obj.resv.unlock()).",
  expect:
    'Checks the VA space: its mappings in address order ([addr, range, obj or null, offset] each), their count, an interval left free; a difference is a simulation error.',
  validate: 'Places the object (device.validate); an empty placement purges it.',
  'vm.get': 'drm_gpuvm_get: one more creator reference on a drm_gpuvm (vm.get()).',
  'vm.put': 'drm_gpuvm_put (vm.put()): at refcount 0 the VM is torn down and its name is free again.',
  'vm.info': "Prints a drm_gpuvm's refcount, flags, vm_bos and its extobj, evict and defer lists.",
  'vm.deferred_cleanup': 'drm_gpuvm_bo_deferred_cleanup: frees the zombie vm_bos of the defer list.',
  'vmbo.obtain': "drm_gpuvm_bo_obtain_locked (or _prealloc): the object's vm_bo, +1, made if needed.",
  'vmbo.get': "drm_gpuvm_bo_get on the object's live vm_bo.",
  'vmbo.put': "drm_gpuvm_bo_put (or _put_deferred) on the object's live vm_bo.",
  'vmbo.evict': "drm_gpuvm_bo_evict on the object's live vm_bo (evict: false validates it back).",
  'vmbo.extobj_add': "drm_gpuvm_bo_extobj_add on the object's live vm_bo.",
  'vm.madvise': 'drm_gpuvm_madvise_ops_create: prints the op list, the VA space unchanged.',
  'vm.exec_lock':
    'drm_gpuvm_exec_lock (with objs: _lock_array; with addr and range: _lock_range): opens exec context "exec", locked until vm.exec_unlock.',
  'vm.sm_map_exec_lock':
    'Opens exec context "exec" locking the VM\'s reservation and what sm_map of the request would touch (drm_gpuvm_sm_map_exec_lock).',
  'vm.sm_unmap_exec_lock':
    'Opens exec context "exec" locking the VM\'s reservation and what sm_unmap of the range would touch (drm_gpuvm_sm_unmap_exec_lock).',
  'vm.validate':
    'drm_gpuvm_validate under an exec context: each vm_bo of the evict list is placed (device.validate) and its evict mark cleared.',
  'vm.resv_add_fence': 'drm_gpuvm_resv_add_fence: a new fence on every object the exec context locked.',
  'vm.exec_unlock': "drm_gpuvm_exec_unlock: drops the exec context's locks; its name is free again.",
  'bind.array': 'Xe VM_BIND with an array (vm.bindArray): every op applied, or none; failAt fails that op (ENOSPC).',
  // Bind queues and fences (lib/replay/queue.ts).
  'fence.create':
    'A fence of a GPU job (device.createFence): signalled by fence.signal, or at signalAt ns with errno as its error.',
  'fence.signal': 'Signals the fence now (dma_fence_signal), after setting errno as its error when given.',
  'fence.expect': 'Checks a fence: signalled or not, its signal time, its error; a difference is a simulation error.',
  'queue.create': 'A bind queue of the VA space (vm.createBindQueue); latency and perStep set its timing (ns).',
  'queue.bind':
    'An atomic VM_BIND on the queue (queue.submit): ops as bind.array, waits for inFences; outFence names its out-fence.',
  'queue.destroy': 'Destroys the queue: its jobs that have not started are cancelled (ECANCELED); its name is free.',
  'clock.advance': "Advances the device's clock by ns: timed fences and bind jobs signal on the way.",
}

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
  /** An exec context (`vm.exec_lock`, the lock-only walks). */
  exec?: string
  /** Objects for `vm.exec_lock` (`drm_gpuvm_exec_lock_array`). */
  objs?: string[]
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
  era?: EraName
  resvProtected?: boolean
  immediateMode?: boolean
  numFences?: number
  prealloc?: boolean
  deferred?: boolean
  evict?: boolean
  ignoreDuplicates?: boolean
  privateUsage?: UsageName
  extobjUsage?: UsageName
  /** `expect`: every mapping of the VA space in address order, as [addr, range, obj or null, offset]. */
  mappings?: ExpectedMapping[]
  /** `expect`: how many mappings the VA space holds (the kernel node not counted). */
  count?: number
  /** `expect`: [addr, range], an interval no node overlaps. */
  free?: [bigint, bigint]
  /** Any request: it must fail with this errno (then it is not an error, and the replay goes on). */
  expectErrno?: Errno
  /** The ops of a `bind.array` line, and the op to fail (`failAt`). */
  ops?: ReplayArrayOp[]
  failAt?: number
  // Bind queues and fences (lib/replay/queue.ts).
  fence?: string
  /** A fence's signal time (ns on the device's clock). */
  signalAt?: bigint
  /** A fence's error (`error` in JSON output is a failed record's, so the field is `errno`). */
  errno?: Errno
  signaled?: boolean
  queue?: string
  latency?: bigint
  perStep?: bigint
  inFences?: string[]
  outFence?: string
  ns?: bigint
}

/** A mapping an `expect` line names: [addr, range, obj or null (sparse), offset]. */
export type ExpectedMapping = [addr: bigint, range: bigint, obj: string | null, offset: bigint]

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

const OP_NAMES = Object.keys(OPS) as [ReplayOpName, ...ReplayOpName[]]

/** One op's line: its fields, each required or optional, and nothing else. */
function opSchema(op: ReplayOpName, { zod: z, docs, fields }: ReturnType<typeof loadFields>) {
  const { required, optional } = OPS[op]
  const allowed = [...Object.keys(required), ...Object.keys(optional)]
  const shape: Record<string, Zod.ZodType> = { op: z.literal(op) }
  for (const [key, kind] of Object.entries(required)) shape[key] = fields[kind]()
  for (const [key, kind] of Object.entries(optional)) shape[key] = fields[kind]().optional()
  // Any request may expect to fail (expect.ts); left out of the field lists of messages, as it is no op's own.
  shape.expectErrno = fields.errno().optional()
  return z
    .strictObject(shape, {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown field for "${op}"${allowed.length ? `; expected ${allowed.join(', ')}` : ' (it takes no fields)'}`
          : `a request must be a JSON object, got ${show(issue.input)}`,
    })
    .register(docs, { title: op, description: OP_HELP[op] })
}
type LineSchema = ReturnType<typeof opSchema>

/** The schemas, made on first use (with zod: fields.ts `loadFields`). */
function lineSchemas() {
  const loaded = loadFields()
  const { zod: z, docs } = loaded
  /** Every op's line schema, by op. */
  const bySchema = Object.fromEntries(OP_NAMES.map((op) => [op, opSchema(op, loaded)])) as Record<
    ReplayOpName,
    LineSchema
  >
  /** A line's first check: a JSON object naming a known op (the op's own schema checks the rest). */
  const head = z.looseObject(
    {
      op: z.enum(
        OP_NAMES,
        says((v) =>
          v === undefined
            ? 'missing (every request names its op)'
            : typeof v !== 'string'
              ? `must be a string, got ${show(v)}`
              : `unknown op ${show(v)}; expected one of ${OP_NAMES.join(', ')}`,
        ),
      ),
    },
    says((v) => `a request must be a JSON object, got ${show(v)}`),
  )
  /**
   * The schema of one replay line: a JSON object whose `op` picks the fields it
   * takes; parsing gives u64 fields as bigint and places as objects.
   * `schema/replay.schema.json` is its JSON Schema (`replayJsonSchema`). Not
   * exported: the published types would then need zod's, and through them DOM
   * or Node typings, in every consumer.
   */
  const line = z
    .discriminatedUnion('op', OP_NAMES.map((op) => bySchema[op]) as [LineSchema, ...LineSchema[]])
    .register(docs, {
      title: 'drmsim replay request',
      description:
        'One line of a drmsim replay file (JSON Lines): a request naming its op. u64 values are decimal or 0x hex strings.',
    })
  return { zod: z, docs, bySchema, head, line }
}

let schemas: ReturnType<typeof lineSchemas> | undefined

/**
 * The JSON Schema (draft 2020-12) of one replay line, for editors; what
 * `schema/replay.schema.json` holds (`npm run schema` writes it).
 */
export function replayJsonSchema(): Record<string, unknown> {
  const { zod: z, docs, line } = (schemas ??= lineSchemas())
  const schema = z.toJSONSchema(line, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
    metadata: docs,
    reused: 'ref',
  })
  return { ...schema, $id: 'https://github.com/drmsim/drmsim/blob/main/schema/replay.schema.json' }
}

/** Where an issue lies below its field, as the message's prefix ("place 0: "); the reserve items name themselves. */
function nested(path: readonly PropertyKey[]): string {
  if (path[0] === 'objs' && typeof path[1] === 'number') return `item ${path[1]}: `
  if (path[0] === 'mappings' && typeof path[1] === 'number')
    return `mapping ${path[1]}: ${path[2] === 2 ? 'obj (item 2): ' : ''}`
  if (path[0] === 'ops' && typeof path[1] === 'number')
    return `op ${path[1]}${path.length > 2 ? ` ${String(path[2])}` : ''}: `
  if (path[0] !== 'placement' || typeof path[1] !== 'number') return ''
  return `place ${path[1]}: ${path[2] === 'domain' ? 'domain: ' : ''}`
}

/**
 * Checks one parsed line against the schema. Throws a format ReplayError
 * naming the field; returns the typed request.
 */
export function checkRequest(value: unknown, file: string, line: number): ReplayRequest {
  const fail = (field: string | undefined, message: string): never => {
    throw new ReplayError('format', 'EINVAL', { file, line, field }, message)
  }
  const { head: headSchema, bySchema } = (schemas ??= lineSchemas())
  const head = headSchema.safeParse(value)
  if (!head.success) {
    const issue = head.error.issues[0]
    fail(issue.path.length ? String(issue.path[0]) : undefined, issue.message)
  }
  const op = (value as { op: ReplayOpName }).op
  const parsed = bySchema[op].safeParse(value)
  if (!parsed.success) {
    const issues = parsed.error.issues
    // An unknown field first (a typo explains the rest), then the fields in the op's order.
    const unknown = issues.find((i) => i.code === 'unrecognized_keys' && i.path.length === 0)
    if (unknown && unknown.code === 'unrecognized_keys') fail(unknown.keys[0], unknown.message)
    const issue = issues[0]
    const key = String(issue.path[0])
    if (!Object.hasOwn(value as object, key)) fail(key, `missing (required by "${op}")`)
    fail(key, `${nested(issue.path)}${issue.message}`)
  }
  const req = { ...(parsed.data as Record<string, unknown>), line } as unknown as ReplayRequest
  if ('reserve' in req && req.reserve === undefined) delete req.reserve
  return req
}
