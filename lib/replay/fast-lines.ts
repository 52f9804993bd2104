/**
 * The replay's fast path for its most common lines, plain `bind` and
 * `unbind`: such a line, written as drmsim writes them (fields in the
 * schema's order, u64 values as strings, names without escapes), is read
 * with one regular expression instead of JSON.parse and the schema; and
 * when nobody reads the records' steps (a replay without `onRecord` whose
 * records are discarded), it is applied with one `bind`/`unbind` call
 * instead of a step-by-step walk, counting its steps from what the call
 * returns. Everything else (another op, another layout, an `exec`, an
 * expected errno, a drm_gpuvm, a page-table model, a failed call) goes
 * through the general path, so the request, the result, the errors and
 * their line numbers are the same either way.
 */
import type { GpuVm, MapRequest } from '../gpuvm/gpuvm.js'
import type { ReplayRecord } from './record.js'
import type { ReplayRequest } from './schema.js'
import type { ReplayState } from './state.js'

/** A u64 as the schema reads a string (hex up to 16 digits, decimal up to 19: both below 2^64). */
const U64 = '"(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,19})"'
/** A handle name as the schema takes it (printable ASCII, no space, at most 128), less `"` and `\`. */
const NAME = '"([\\x21\\x23-\\x5b\\x5d-\\x7e]{1,128})"'
const BIND = new RegExp(
  `^\\{"op":"bind","vm":${NAME},"addr":${U64},"range":${U64}(?:,"obj":(?:${NAME}|(null)))?(?:,"offset":${U64})?\\}$`,
)
const UNBIND = new RegExp(`^\\{"op":"unbind","vm":${NAME},"addr":${U64},"range":${U64}\\}$`)

/**
 * The match of a plain `bind` line (`BIND`: groups vm, addr, range, obj,
 * `null`, offset) or `unbind` line (`UNBIND`: vm, addr, range), or null:
 * what `plainBindLine` reads, without making the request (fast-runs.ts).
 */
export function plainMatch(text: string): RegExpExecArray | null {
  const c = text.charCodeAt(7)
  return c === 0x62 /* b */ ? BIND.exec(text) : c === 0x75 /* u */ ? UNBIND.exec(text) : null
}

/**
 * The request of a plain `bind` or `unbind` line, as `checkRequest` would
 * return it (same fields, same order); undefined for any other line.
 */
export function plainBindLine(text: string, line: number): ReplayRequest | undefined {
  const c = text.charCodeAt(7)
  // `{"op":"b...` or `{"op":"u...`: anything else is not for this path.
  if (c === 0x62 /* b */) {
    const m = BIND.exec(text)
    if (m === null) return undefined
    const req: ReplayRequest = { op: 'bind', vm: m[1], addr: BigInt(m[2]!), range: BigInt(m[3]!) } as ReplayRequest
    if (m[4] !== undefined) req.obj = m[4]
    else if (m[5] !== undefined) req.obj = null
    if (m[6] !== undefined) req.offset = BigInt(m[6])
    req.line = line
    return req
  }
  if (c === 0x75 /* u */) {
    const m = UNBIND.exec(text)
    if (m === null) return undefined
    return { op: 'unbind', vm: m[1], addr: BigInt(m[2]!), range: BigInt(m[3]!), line } as ReplayRequest
  }
  return undefined
}

/**
 * Applies a `bind` (`request`) or `unbind` (null) line in one call when its
 * steps are not wanted: true when done (the step counts added, the warnings
 * taken), false to leave it to the step-by-step walk, which also gives a
 * failed call its error (a call that fails changes nothing).
 */
export function quickBind(
  r: ReplayState,
  vm: GpuVm,
  req: ReplayRequest,
  request: MapRequest | null,
  record: ReplayRecord,
): boolean {
  if (!r.countsOnly || req.exec !== undefined || req.expectErrno !== undefined) return false
  if (vm.resvObject !== null || r.driver.pageTable !== undefined) return false
  if (vm.warnings.length !== 0) return false
  let counts: { map: number; remap: number; unmap: number }
  try {
    counts = request === null ? vm.unbind(req.addr!, req.range!) : vm.bind(request)
  } catch {
    // Refused before any step: its warnings go, and the walk fails the same way with its own message.
    vm.takeWarnings()
    return false
  }
  const ops = r.s.ops
  ops.map += counts.map
  ops.remap += counts.remap
  ops.unmap += counts.unmap
  r.warnings(vm, record)
  return true
}
