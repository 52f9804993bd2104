/**
 * Mesa NVK's VM trace (`NVK_DEBUG=vm`, nvkmd.c's logging of VA allocations
 * and binds): lines such as
 *
 *   alloc va [0x10000000, 0x10200000) sparse
 *   bind vma mem<0x3>[0x0, 0x10000) to [0x10000000, 0x10010000)
 *   unbind vma [0x10000000, 0x10010000)
 *   free va [0x10000000, 0x10200000) sparse
 *
 * A `bind vma` maps the memory object's range (`mem<handle>`, the handle in
 * hex) at the VA range; an `unbind vma` unmaps its range; a `free va` is the
 * unmap of the whole VA range that nouveau's VA free issues. An `alloc va`
 * maps nothing: a plain one only reserves addresses in NVK's heap, a sparse
 * one makes a nouveau sparse region, which nouveau keeps beside drm_gpuvm's
 * mappings, not among them; those lines are read and dropped. Every other
 * line is ignored and counted.
 */
import { type ParsedTrace, TraceError, type TraceEvent, traceHex } from './trace.js'

/** nouveau's VA space: 47 bits (NOUVEAU_VA_SPACE_BITS). */
export const NVK_VA_RANGE = 1n << 47n

const RANGE = String.raw`\[(\S+), (\S+)\)`
const BIND = new RegExp(String.raw`^bind vma mem<(\S+)>${RANGE} to ${RANGE}$`)
const UNBIND = new RegExp(`^unbind vma ${RANGE}$`)
const VA = new RegExp(`^(alloc|free) va ${RANGE}( sparse)?$`)
const FORMATS: Record<string, string> = {
  'bind vma ': '"bind vma mem<0xHANDLE>[0xSTART, 0xEND) to [0xSTART, 0xEND)"',
  'unbind vma ': '"unbind vma [0xSTART, 0xEND)"',
  'alloc va ': '"alloc va [0xSTART, 0xEND)" (then " sparse" or nothing)',
  'free va ': '"free va [0xSTART, 0xEND)" (then " sparse" or nothing)',
}

/** Reads an `NVK_DEBUG=vm` trace; a line starting as one of its four kinds that does not parse is a TraceError. */
export function parseNvk(text: string, file = 'trace'): ParsedTrace {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  const events: TraceEvent[] = []
  let ignored = 0
  let dropped = 0
  lines.forEach((raw, i) => {
    const line = i + 1
    const t = raw.replace(/\r$/, '').trim()
    const kind = Object.keys(FORMATS).find((k) => t.startsWith(k))
    if (kind === undefined) {
      ignored++
      return
    }
    const fail = (why: string): never => {
      throw new TraceError(file, line, why)
    }
    const malformed = () => fail(`malformed NVK ${kind.trim()} line: expected ${FORMATS[kind]}, got ${show(t)}`)
    const num = (v: string, what: string) => traceHex(v) ?? fail(`${what}: not a u64 in hex: ${show(v)}`)
    const span = (start: string, end: string, what: string) => {
      const [s, e] = [num(start, `${what} start`), num(end, `${what} end`)]
      if (e < s) fail(`${what} [${start}, ${end}) ends before it starts`)
      return [s, e - s] as const
    }
    if (kind === 'bind vma ') {
      const m = BIND.exec(t) ?? malformed()
      const handle = num(m[1], 'mem handle')
      const [offset, size] = span(m[2], m[3], 'mem range')
      const [addr, range] = span(m[4], m[5], 'VA range')
      if (size !== range)
        fail(`the mem range (0x${size.toString(16)} bytes) and the VA range (0x${range.toString(16)}) differ`)
      events.push({ line, kind: 'bind', addr, range, obj: `mem${handle.toString(16)}`, offset })
    } else if (kind === 'unbind vma ') {
      const m = UNBIND.exec(t) ?? malformed()
      const [addr, range] = span(m[1], m[2], 'VA range')
      events.push({ line, kind: 'unbind', addr, range, obj: null, offset: 0n })
    } else {
      const m = VA.exec(t) ?? malformed()
      const [addr, range] = span(m[2], m[3], 'VA range')
      if (m[1] === 'alloc') dropped++
      else events.push({ line, kind: 'unbind', addr, range, obj: null, offset: 0n })
    }
  })
  return { events, ignored, dropped, lines: lines.length }
}

function show(t: string): string {
  return JSON.stringify(t.length > 80 ? `${t.slice(0, 77)}...` : t)
}
