/**
 * What the trace importers share: the binds and unbinds a driver's debug
 * output recorded (`TraceEvent`), the error a malformed line gives
 * (`TraceError`, naming the file and line), and the replay file they become
 * (`traceToReplay`): one VA space, one object per buffer the trace names,
 * sized to the largest extent it binds (offset + range: the trace never says
 * how big a buffer is), then the binds and unbinds in trace order.
 */
import { hex } from '../base/check.js'
import { DrmError } from '../base/errors.js'

/** One bind or unbind a trace line recorded. */
export interface TraceEvent {
  /** The trace line it came from (1-based). */
  line: number
  kind: 'bind' | 'unbind'
  addr: bigint
  range: bigint
  /** The buffer's replay name; null for a sparse (object-less) bind. */
  obj: string | null
  /** Offset into the buffer (0 for a sparse bind or an unbind). */
  offset: bigint
}

/** A trace read: its events, and how many of its lines were something else. */
export interface ParsedTrace {
  events: TraceEvent[]
  /** Lines that are none of the importer's (other debug output, blank lines): not read. */
  ignored: number
  /** Lines of the importer's own kind that map nothing (NVK's `alloc va`): read, then dropped. */
  dropped: number
  /** Lines in all. */
  lines: number
}

/** A line that looks like one the importer reads but does not parse: EINVAL, with `file:line:`. */
export class TraceError extends DrmError {
  readonly file: string
  readonly line: number

  constructor(file: string, line: number, message: string) {
    super('EINVAL', message)
    this.name = 'TraceError'
    this.file = file
    this.line = line
    this.message = `${file}:${line}: ${message}`
  }
}

/** A u64 written in hex (with or without 0x) in a trace; out of range is the caller's error. */
export function traceHex(text: string): bigint | null {
  const digits = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text
  if (!/^[0-9a-fA-F]{1,16}$/.test(digits)) return null
  return BigInt(`0x${digits}`)
}

export interface ReplayFromTrace {
  /** What the header names: the importer and the file. */
  source: string
  /** The VA space's name and size. */
  vm: string
  range: bigint
}

/** The replay file (JSON Lines, `#` header lines first) a trace becomes. */
export function traceToReplay(trace: ParsedTrace, o: ReplayFromTrace): string {
  const sizes = new Map<string, bigint>()
  for (const e of trace.events) {
    if (e.kind !== 'bind' || e.obj === null) continue
    const end = e.offset + e.range
    if (end > (sizes.get(e.obj) ?? 0n)) sizes.set(e.obj, end)
  }
  const out = [
    `# drmsim import ${o.source}: ${trace.events.length} binds and unbinds from ${trace.lines} lines` +
      ` (${trace.ignored} other lines ignored${trace.dropped ? `, ${trace.dropped} that map nothing dropped` : ''})`,
    '# each object is sized to the largest extent the trace binds of it (offset + range)',
    JSON.stringify({ op: 'vm.create', vm: o.vm, range: hex(o.range) }),
  ]
  for (const [obj, size] of sizes) out.push(JSON.stringify({ op: 'obj.create', obj, size: hex(size) }))
  for (const e of trace.events) {
    const line: Record<string, unknown> = { op: e.kind, vm: o.vm, addr: hex(e.addr), range: hex(e.range) }
    if (e.kind === 'bind') {
      line.obj = e.obj
      if (e.obj !== null) line.offset = hex(e.offset)
    }
    out.push(JSON.stringify(line))
  }
  return `${out.join('\n')}\n`
}
