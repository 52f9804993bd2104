/**
 * The replay's output: a record as trace-style text lines or as one JSON
 * object, errors as JSON, and the summary as text or JSON. A record is named
 * by its request's index, counting from 0 (`req N`, as in
 * `drmsim vmbind --trace`); messages name the input's file:line, and a JSON
 * record carries both (`req`, `line`). A JSON record is a replay line with
 * what the request did added to it: `replayLineOf` takes those additions off
 * again, so `drmsim replay --json` output replays.
 */
import { hex } from '../base/check.js'
import type { ReplayPiece, ReplayRecord, ReplayStep, ReplaySummary } from './record.js'
import type { ReplayArrayOp } from './array.js'
import type { ReplayError, ReplayPlace } from './schema.js'

const piece = (p: ReplayPiece | null): string =>
  p === null ? '-' : `${hex(p.addr)},${hex(p.range)},${p.obj ?? '-'},${hex(p.offset)}`

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
const KEYED = [
  'exec',
  'objs',
  'resv',
  'start',
  'size',
  'reserve',
  'domain',
  'placement',
  'vram',
  'gtt',
  'system',
  'profile',
  'wwClass',
  'era',
  'resvProtected',
  'immediateMode',
  'numFences',
  'prealloc',
  'deferred',
  'evict',
  'ignoreDuplicates',
  'privateUsage',
  'extobjUsage',
  // Expectations (expect.ts).
  'count',
  'expectErrno',
  // Atomic bind arrays.
  'ops',
  'failAt',
  // Bind queues and fences (queue.ts).
  'queue',
  'fence',
  'signalAt',
  'errno',
  'signaled',
  'latency',
  'perStep',
  'inFences',
  'outFence',
  'ns',
] as const

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

function textValue(key: string, v: unknown): string {
  if (v === null) return '-'
  if (typeof v === 'bigint') return hex(v)
  if (typeof v === 'boolean') return v ? '1' : '0'
  if (key === 'reserve') {
    const r = v as { offset: bigint; range: bigint }
    return `${hex(r.offset)},${hex(r.range)}`
  }
  if (key === 'ops') {
    // A bind.array's ops: bind:addr+range:obj@offset, unbind:addr+range.
    const ops = v as ReplayArrayOp[]
    const one = (o: ReplayArrayOp) =>
      o.op === 'unbind'
        ? `unbind:${hex(o.addr)}+${hex(o.range)}`
        : `bind:${hex(o.addr)}+${hex(o.range)}:${o.obj ?? '-'}@${hex(o.offset ?? 0n)}`
    return `[${ops.map(one).join(',')}]`
  }
  if (Array.isArray(v) && key !== 'placement') return `[${v.join(',')}]`
  if (key === 'placement') {
    const places = v as ReplayPlace[]
    if (places.length === 0) return '(none)'
    return places
      .map((p) =>
        [p.domain, p.desired && 'desired', p.fallback && 'fallback', p.topDown && 'topdown'].filter(Boolean).join(':'),
      )
      .join(',')
  }
  return String(v)
}

/** What a record's result line names first: the VM (and object, for a vm_bo), the exec context, or the object. */
function subject(req: ReplayRecord['request']): string {
  // Bind queues and fences (queue.ts).
  if (req.queue !== undefined || req.fence !== undefined) return req.queue ?? req.fence!
  if (req.op === 'clock.advance') return 'clock'
  if (req.op.startsWith('vmbo.')) return `${req.vm} ${req.obj}`
  if (req.op.startsWith('vm.') || req.op === 'bind' || req.op === 'unbind') return req.vm ?? req.exec ?? ''
  return req.obj ?? req.vm ?? req.ctx ?? ''
}

/**
 * Text lines for the record of request `index` (from 0: the records in the
 * order the replay made them): the request (`req INDEX OP` then vm, addr,
 * range, obj, offset in vmbind's order, then key=value fields), its steps,
 * the op list it made without applying it (`list op ...`), what it returned
 * (lists in brackets: `extobj=[ext1#1,ext2#2]`), violations, warnings, and
 * the error.
 */
export function recordLines(record: ReplayRecord, index: number): string[] {
  const req = record.request
  const r = req as unknown as Record<string, unknown>
  const fields: string[] = []
  // An object's VM (obj.create) is a key=value field: positional, it would read as the object.
  const keyedVm = req.op === 'obj.create'
  for (const key of POSITIONAL)
    if (r[key] !== undefined && !(keyedVm && key === 'vm')) fields.push(textValue(key, r[key]))
  if (req.ctx !== undefined) fields.push(req.op.startsWith('ctx.') ? req.ctx : `ctx=${req.ctx}`)
  for (const key of KEYED) if (r[key] !== undefined) fields.push(`${snake(key)}=${textValue(key, r[key])}`)
  if (keyedVm && req.vm !== undefined) fields.push(`vm=${req.vm}`)
  const lines = [`req ${index} ${req.op}${fields.length ? ` ${fields.join(' ')}` : ''}`]
  for (const step of record.steps) lines.push(stepLine(step))
  for (const step of record.opList ?? []) lines.push(`list ${stepLine(step)}`)
  const result = Object.entries(record.result)
  if (result.length) {
    lines.push(`${req.op} ${subject(req)} ${result.map(([k, v]) => `${snake(k)}=${textValue(k, v)}`).join(' ')}`)
  }
  for (const v of record.violations) lines.push(`violation ${v.kind}${v.obj ? ` ${v.obj}` : ''}: ${v.message}`)
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

/** What `recordJson` adds to a request: taken off again by `replayLineOf`. */
const ADDED = ['req', 'line', 'steps', 'opList', 'result', 'violations', 'warnings', 'error'] as const

/**
 * The record of request `index` (from 0) as one JSON object: `req` (the
 * index), `line` (of the input), the request's fields as a replay line has
 * them (u64 values as 0x hex strings), then what it did: `steps`, `opList`
 * (the op list of a `vm.madvise`), `result`, `violations`, `warnings`, `error`.
 * Counts are JSON numbers, lists arrays of names.
 */
export function recordJson(record: ReplayRecord, index: number): Record<string, unknown> {
  const { line, ...request } = record.request
  const out: Record<string, unknown> = { req: index, line, ...(jsonValue(request) as Record<string, unknown>) }
  // As the file has it, so a record's request can be replayed again.
  if (record.request.reserve) out.reserve = [hex(record.request.reserve.offset), hex(record.request.reserve.range)]
  if (record.steps.length) out.steps = jsonValue(record.steps)
  if (record.opList?.length) out.opList = jsonValue(record.opList)
  if (Object.keys(record.result).length) out.result = jsonValue(record.result)
  if (record.violations.length) out.violations = record.violations
  if (record.warnings.length)
    out.warnings = record.warnings.map((w) => ({ kind: w.kind, message: w.message, rule: w.rule }))
  if (record.error) out.error = errorJson(record.error)
  return out
}

export function errorJson(e: ReplayError): Record<string, unknown> {
  return {
    kind: e.kind,
    errno: e.errno,
    file: e.file,
    line: e.line,
    ...(e.field ? { field: e.field } : {}),
    message: e.message,
  }
}

/** The summary as text lines (`key value`, counts in decimal, bytes in hex). */
export function summaryText(s: ReplaySummary): string {
  return `${[
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
  ].join('\n')}\n`
}

/** The summary as JSON: counts (evictions too) as numbers, bytes moved as a 0x hex string like other u64 sizes. */
export function summaryJson(s: ReplaySummary): Record<string, unknown> {
  return { ...(jsonValue(s) as Record<string, unknown>), evictions: Number(s.evictions) }
}

/**
 * The replay line a line of `drmsim replay --json` output stands for: a
 * record's request without what `recordJson` added, null for the output's
 * closing `{"summary": ...}` or `{"error": ...}` line. Any other line (a
 * request written by hand, a comment) is returned as it is.
 */
export function replayLineOf(text: string): string | null {
  const t = text.trimStart()
  if (t.startsWith('{"summary":{') || t.startsWith('{"error":{')) return null
  if (!t.startsWith('{"req":')) return text
  let value: unknown
  try {
    value = JSON.parse(t)
  } catch {
    return text // the replay reports it, with its line
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return text
  const o = value as Record<string, unknown>
  for (const key of ADDED) delete o[key]
  return JSON.stringify(o)
}
