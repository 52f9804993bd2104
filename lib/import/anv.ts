/**
 * Mesa ANV's sparse-binding trace (`INTEL_DEBUG=sparse`, anv_sparse.c's
 * dump of each VM bind): lines such as
 *
 *   [ bind ] bo:0005 address:0000000000200000 size:00010000 mem_offset:00000000
 *   [unbind] bo:---- address:0000000000200000 size:00200000 mem_offset:00000000
 *
 * The handle is the GEM handle in decimal (`----`: no BO, a NULL binding,
 * which Xe maps with no backing: a sparse mapping here); address, size and
 * mem_offset are hex. A `[ bind ]` of a BO becomes a bind of `bo<handle>`
 * at mem_offset, a `[ bind ]` of no BO a sparse bind, an `[unbind]` an unbind
 * of the range. Every other line (the image and surface dumps, `trtt_binds:`,
 * `anv_free_sparse_bindings:`) is ignored and counted.
 */
import { type ParsedTrace, TraceError, type TraceEvent, traceHex } from './trace.js'

/** ANV's VA space: 48 bits (Gen8+ PPGTT). */
export const ANV_VA_RANGE = 1n << 48n

const LINE = /^\[( bind |unbind)\] bo:(\d+|----) address:(\S+) size:(\S+) mem_offset:(\S+)$/
const FORMAT = '"[ bind ]|[unbind] bo:NNNN|---- address:HEX size:HEX mem_offset:HEX"'

/** Reads an `INTEL_DEBUG=sparse` trace; a line starting `[ bind ]` or `[unbind]` that does not parse is a TraceError. */
export function parseAnv(text: string, file = 'trace'): ParsedTrace {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  const events: TraceEvent[] = []
  let ignored = 0
  lines.forEach((raw, i) => {
    const line = i + 1
    const t = raw.replace(/\r$/, '').trim()
    if (!t.startsWith('[ bind ]') && !t.startsWith('[unbind]')) {
      ignored++
      return
    }
    const m = LINE.exec(t)
    if (m === null) throw new TraceError(file, line, `malformed ANV bind line: expected ${FORMAT}, got ${show(t)}`)
    const [addr, range, offset] = [m[3], m[4], m[5]].map((v, k) => {
      const n = traceHex(v)
      if (n === null)
        throw new TraceError(file, line, `${['address', 'size', 'mem_offset'][k]}: not a u64 in hex: ${show(v)}`)
      return n
    })
    if (m[1] === 'unbind') {
      events.push({ line, kind: 'unbind', addr, range, obj: null, offset: 0n })
      return
    }
    const obj = m[2] === '----' ? null : `bo${Number.parseInt(m[2], 10)}`
    events.push({ line, kind: 'bind', addr, range, obj, offset: obj === null ? 0n : offset })
  })
  return { events, ignored, dropped: 0, lines: lines.length }
}

function show(t: string): string {
  return JSON.stringify(t.length > 80 ? `${t.slice(0, 77)}...` : t)
}
