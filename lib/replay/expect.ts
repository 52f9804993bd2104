/**
 * Expectations in a replay, so that a file carries the outcome it must have:
 * the `expect` op checks a VA space at that point (its mappings in address
 * order, their count, an interval left free), and `expectErrno`, which any
 * request may carry, says the request must fail with that errno. A request
 * that fails as it expects is no error (its record says `errno=...` and the
 * replay goes on without --keep-going); any other outcome, as any unmet
 * `expect`, is a simulation error that names the line and what differs.
 */
import { hex } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { ReplayRecord } from './record.js'
import { type ExpectedMapping, ReplayError, type ReplayRequest } from './schema.js'
import type { ReplayState } from './state.js'

/** A mapping as an `expect` line writes it: [addr, range, obj or null, offset], u64s as 0x hex. */
export type MappingLine = [addr: string, range: string, obj: string | null, offset: string]

/** Every mapping of `vm` in address order (the kernel node left out), its object named by `nameOf`. */
export function mappingLines(vm: GpuVm, nameOf: (obj: GemObject) => string): MappingLine[] {
  const out: MappingLine[] = []
  for (const va of vm.vas()) {
    if (va.isKernelNode) continue
    out.push([hex(va.addr), hex(va.range), va.obj === null ? null : nameOf(va.obj), hex(va.offset)])
  }
  return out
}

/** An unmet `expect`: a simulation error that no `expectErrno` can expect. */
class ExpectationError extends ReplayError {}

const show = (m: MappingLine | undefined): string =>
  m === undefined ? 'none' : `[${m.map((x) => x ?? '-').join(', ')}]`

const written = (m: ExpectedMapping): MappingLine => [hex(m[0]), hex(m[1]), m[2], hex(m[3])]

/** The `expect` op: every check the line makes; the first that fails is thrown with the others' differences. */
export function expectState(r: ReplayState, req: ReplayRequest, record: ReplayRecord): void {
  const vm = r.vm(req)
  if (req.mappings === undefined && req.count === undefined && req.free === undefined)
    r.format(req.line, 'op', 'expect checks mappings, count or free: give at least one')
  if (req.free !== undefined) {
    const [addr, range] = req.free
    if (range === 0n) r.format(req.line, 'free', 'the range is 0: an empty interval is always free')
    if (addr + range > 1n << 64n) r.format(req.line, 'free', 'addr + range overflows u64')
  }
  const have = mappingLines(vm, (obj) => r.name(obj)!)
  record.result.mappings = have.length
  const diffs: { field: string; what: string }[] = []
  if (req.count !== undefined && have.length !== req.count)
    diffs.push({ field: 'count', what: `${have.length} mappings, expected ${req.count}` })
  if (req.mappings !== undefined) {
    const want = req.mappings.map(written)
    const at = firstDifference(have, want)
    if (at >= 0) {
      const counts = have.length === want.length ? '' : ` (${have.length} mappings, expected ${want.length})`
      diffs.push({ field: 'mappings', what: `mapping ${at} is ${show(have[at])}, expected ${show(want[at])}${counts}` })
    }
  }
  if (req.free !== undefined) {
    const [addr, range] = req.free
    const there = [...vm.vasInRange(addr, addr + range)].filter((va) => va.addr < addr + range)
    if (there.length) {
      const first = there[0]
      const node = first.isKernelNode
        ? 'the kernel node'
        : show([hex(first.addr), hex(first.range), r.name(first.obj), hex(first.offset)])
      diffs.push({
        field: 'free',
        what: `[${hex(addr)}, ${hex(addr + range)}) is not free: ${there.length} node${there.length > 1 ? 's' : ''} there, the first ${node}`,
      })
    }
  }
  if (diffs.length) {
    throw new ExpectationError(
      'simulation',
      'EINVAL',
      r.at(req.line, diffs[0].field),
      `expect: VA space '${req.vm}': ${diffs.map((d) => d.what).join('; ')}`,
    )
  }
}

function firstDifference(have: MappingLine[], want: MappingLine[]): number {
  const n = Math.max(have.length, want.length)
  for (let i = 0; i < n; i++) {
    const a = have[i]
    const b = want[i]
    if (a === undefined || b === undefined || a.some((x, k) => x !== b[k])) return i
  }
  return -1
}

/**
 * The outcome of a request carrying `expectErrno`, given the DrmError it
 * threw (null when it succeeded): null when it failed as expected (its
 * record's `errno` says so), else the error to report. An unmet `expect` is
 * never the failure a line expects.
 */
export function expectedOutcome(req: ReplayRequest, record: ReplayRecord, err: DrmError | null): DrmError | null {
  const want = req.expectErrno!
  if (err === null)
    return new DrmError('EINVAL', `expected to fail with ${want}, but it succeeded (the state changed as it asked)`)
  if (err.errno === want && !(err instanceof ExpectationError)) {
    record.result.errno = err.errno
    return null
  }
  if (err instanceof ReplayError) return err
  return new DrmError(err.errno, `expected ${want}, got ${err.message}`, { cause: err })
}
