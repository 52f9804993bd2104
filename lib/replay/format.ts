/**
 * The replay's output: a record as trace-style text lines or as one JSON
 * object, errors as JSON, and the summary as text or JSON.
 */
import { hex } from '../base/check.js'
import type { ReplayPiece, ReplayRecord, ReplayStep, ReplaySummary } from './record.js'
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
  const lines = [`req ${req.line} ${req.op}${fields.length ? ` ${fields.join(' ')}` : ''}`]
  for (const step of record.steps) lines.push(stepLine(step))
  const result = Object.entries(record.result)
  if (result.length) {
    const subject = req.obj ?? req.vm ?? req.ctx ?? ''
    lines.push(`${req.op} ${subject} ${result.map(([k, v]) => `${snake(k)}=${textValue(k, v)}`).join(' ')}`)
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

/** One record as a JSON object: u64 values as 0x hex strings. */
export function recordJson(record: ReplayRecord): Record<string, unknown> {
  const out: Record<string, unknown> = jsonValue(record.request) as Record<string, unknown>
  // As the file has it, so a record's request can be replayed again.
  if (record.request.reserve) out.reserve = [hex(record.request.reserve.offset), hex(record.request.reserve.range)]
  if (record.steps.length) out.steps = jsonValue(record.steps)
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

export function summaryJson(s: ReplaySummary): Record<string, unknown> {
  return jsonValue(s) as Record<string, unknown>
}
