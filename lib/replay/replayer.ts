/**
 * The `Replayer`: runs a replay one line at a time. Each op has one handler in
 * `HANDLERS` (as the kernel's ops tables do); a handler resolves the request's
 * handles in the replay's state, calls the API, and writes what it returned
 * to the request's record.
 */
import { readPageTableProfile } from '../gpuvm/page-table.js'
import { Device, type DeviceOptions } from '../device/device.js'
import type { EngineName } from '../contract/vm.js'
import { DrmError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm, MapRequest } from '../gpuvm/gpuvm.js'
import { expectedOutcome, expectState } from './expect.js'
// Atomic bind arrays.
import { bindArrayLine } from './array.js'
// Bind queues and fences.
import { QUEUE_HANDLERS } from './queue.js'
import { addFence, execLock, liveVmBo, missingResvLocks, smMapLockWalk, smUnmapLockWalk } from './hub.js'
import type { ReplayOptions, ReplayRecord, ReplayResult } from './record.js'
import {
  checkRequest,
  DEFAULT_MAX_HANDLES,
  DEFAULT_MAX_LINE_BYTES,
  MAX_LINE_DEPTH,
  nestsTooDeep,
  ReplayError,
  type ReplayOpName,
  type ReplayPlace,
  type ReplayRequest,
} from './schema.js'
import { show } from './fields.js'
import { ReplayState } from './state.js'
import type { OpList } from '../gpuvm/ops.js'
// The fast path of plain bind/unbind lines (speed-js).
import { plainBindLine, quickBind } from './fast-lines.js'
// Runs of plain lines in one engine call, the state hash (fast-replay).
import { type Line, PlainRuns } from './fast-runs.js'
import { stateHash } from './state-hash.js'

/** Errors kept on the result under keepGoing (all are counted and reported through onRecord). */
const KEPT_ERRORS = 1000

/** Runs one checked request against the replay's state; what it returns goes to `record.result`. */
type Handler = (r: ReplayState, req: ReplayRequest, record: ReplayRecord) => void

/** `device.validate`, which a build without the placement API lacks. */
type Validate = (obj: GemObject, places: ReplayPlace[]) => { moved: boolean; bytesMoved: bigint; evictions: number }

const HANDLERS: Readonly<Record<ReplayOpName, Handler>> = {
  device(r, req) {
    // Replay files name no allocator: their VRAM is drm_mm's, as when they were recorded (ttm-res).
    const memory: Record<string, bigint | { size: bigint; allocator: 'mm' }> = {
      vram: { size: req.vram ?? 256n << 20n, allocator: 'mm' },
    }
    if (req.gtt !== undefined) memory.gtt = req.gtt
    if (req.system !== undefined) memory.system = req.system
    const options: DeviceOptions = { engine: r.engine, memory }
    if (req.profile) options.profile = req.profile
    if (req.wwClass) options.wwClass = req.wwClass
    r.device = new Device(options)
  },
  'vm.create'(r, req, record) {
    const vm = r.create(r.vms, 'vm', 'vm', req.vm!, req.line, () =>
      r.driver.createVm(
        {
          name: req.vm!,
          start: req.start,
          range: req.range!,
          reserve: req.reserve,
          era: req.era,
          resvProtected: req.resvProtected,
          immediateMode: req.immediateMode,
        },
        r.engine,
      ),
    )
    r.s.vms++
    if (vm.resvObject) {
      // A drm_gpuvm: its reservation object is named after it in what the replay prints.
      r.names.set(vm.resvObject, `${req.vm}/resv`)
      record.result.era = vm.era
      record.result.refcount = vm.refcount
    }
    r.warnings(vm, record)
  },
  'vm.destroy'(r, req, record) {
    const vm = r.vm(req)
    r.vms.delete(req.vm!)
    vm.destroy()
    r.warnings(vm, record)
  },
  'obj.create'(r, req, { result }) {
    const device = r.device
    if (req.resv !== undefined && req.vm !== undefined)
      r.format(req.line, 'vm', 'obj.create shares one reservation: give resv (an object) or vm (a drm_gpuvm), not both')
    const resv =
      req.resv === undefined ? (req.vm === undefined ? undefined : vmResv(r, req)) : r.obj(req, 'resv', req.resv)
    const obj = r.create(r.objs, 'obj', 'obj', req.obj!, req.line, () =>
      device.createObject({ size: req.size!, profile: req.profile, resv }),
    )
    r.names.set(obj, req.obj!)
    r.s.objects++
    result.id = obj.id
    result.domain = obj.domain
  },
  'obj.destroy'(r, req, { result }) {
    const obj = r.obj(req)
    r.objs.delete(req.obj!)
    result.freed = obj.put()
  },
  bind(r, req, record) {
    const vm = r.vm(req)
    const request = mapRequest(r, req)
    if (quickBind(r, vm, req, request, record)) return
    if (req.exec !== undefined) checkLocks(r, req, record, () => vm.smMapOps(request))
    walk(r, vm, vm.mapSteps(request), record)
  },
  unbind(r, req, record) {
    const vm = r.vm(req)
    if (quickBind(r, vm, req, null, record)) return
    if (req.exec !== undefined) checkLocks(r, req, record, () => vm.smUnmapOps(req.addr!, req.range!))
    walk(r, vm, vm.unmapSteps(req.addr!, req.range!), record)
  },
  pin(r, req, { result }) {
    const obj = r.obj(req)
    const domain = req.domain ?? 'current'
    result.count = r.held(obj) ? obj.pinLocked(domain) : obj.pin(domain)
    result.domain = obj.pinDomain
    r.s.pins++
  },
  unpin(r, req, { result }) {
    const obj = r.obj(req)
    result.count = r.held(obj) ? obj.unpinLocked() : obj.unpin()
  },
  vmap(r, req, { result }) {
    const obj = r.obj(req)
    const m = r.held(obj) ? obj.vmapLocked() : obj.vmap()
    result.count = obj.vmapCount
    result.addr = m.addr
    result.iomem = m.iomem
    r.s.vmaps++
  },
  vunmap(r, req, { result }) {
    const obj = r.obj(req)
    result.count = r.held(obj) ? obj.vunmapLocked() : obj.vunmap()
  },
  'ctx.init'(r, req) {
    const device = r.device
    r.create(r.ctxs, 'ctx', 'ctx', req.ctx!, req.line, () => device.acquireCtx())
  },
  'ctx.fini'(r, req) {
    const ctx = r.ctx(req)
    r.ctxs.delete(req.ctx!)
    ctx.fini()
  },
  lock(r, req, { result }) {
    const obj = r.obj(req)
    const ctx = req.ctx === undefined ? null : r.ctx(req)
    obj.resv.lock(ctx)
    result.resv = obj.resv.id
    r.s.locks++
  },
  unlock(r, req) {
    r.obj(req).resv.unlock()
  },
  // Expectations (expect.ts).
  expect: expectState,
  validate(r, req, { result }) {
    const obj = r.obj(req)
    const validate = (r.device as unknown as { validate?: Validate }).validate
    if (typeof validate !== 'function')
      r.format(req.line, 'op', 'validate needs the placement API, which this build lacks')
    const v = validate!.call(r.device, obj, req.placement!)
    result.moved = v.moved
    result.bytesMoved = v.bytesMoved
    result.evictions = v.evictions
    result.domain = obj.domain
    result.offset = obj.offset
    r.s.validates++
  },

  // --- the drm_gpuvm hub --------------------------------------------------------------------

  'vm.get'(r, req, record) {
    onVm(r, r.vm(req), record, (vm) => {
      vm.get()
      record.result.refcount = vm.refcount
    })
  },
  'vm.put'(r, req, record) {
    onVm(r, r.vm(req), record, (vm) => {
      record.result.refcount = vm.put()
    })
  },
  'vm.info'(r, req, record) {
    onVm(r, r.vm(req), record, (vm) => {
      const { result } = record
      const bos = vm.vmBos()
      result.era = vm.era
      result.refcount = vm.refcount
      result.resvProtected = vm.resvProtected
      result.immediateMode = vm.immediateMode
      result.vmBos = bos.map((bo) => r.vmBoState(bo))
      lists(r, vm, result, ['extobj', 'evict', 'defer'])
    })
  },
  'vm.deferred_cleanup'(r, req, record) {
    onVm(r, r.vm(req), record, (vm) => {
      record.result.cleaned = vm.deferredCleanup()
      if (!vm.destroyed) record.result.refcount = vm.refcount
    })
  },
  'vmbo.obtain'(r, req, record) {
    const obj = r.obj(req)
    onVm(r, r.vm(req), record, (vm) => {
      const bo = req.prealloc ? vm.obtainPrealloc(obj) : vm.obtain(obj)
      record.result.vmBo = r.vmBoState(bo)
    })
  },
  'vmbo.get'(r, req, record) {
    const obj = r.obj(req)
    onVm(r, r.vm(req), record, (vm) => {
      const bo = liveVmBo(vm, obj).get()
      record.result.vmBo = r.vmBoState(bo)
    })
  },
  'vmbo.put'(r, req, record) {
    const obj = r.obj(req)
    onVm(r, r.vm(req), record, (vm) => {
      const bo = liveVmBo(vm, obj)
      record.result.released = req.deferred ? bo.putDeferred() : bo.put()
      record.result.vmBo = r.vmBoState(bo)
      if (req.deferred && !vm.destroyed) lists(r, vm, record.result, ['defer'])
    })
  },
  'vmbo.evict'(r, req, record) {
    const obj = r.obj(req)
    onVm(r, r.vm(req), record, (vm) => {
      const bo = liveVmBo(vm, obj)
      bo.evict(req.evict ?? true)
      record.result.vmBo = r.vmBoState(bo)
      lists(r, vm, record.result, ['evict'])
    })
  },
  'vmbo.extobj_add'(r, req, record) {
    const obj = r.obj(req)
    onVm(r, r.vm(req), record, (vm) => {
      const bo = liveVmBo(vm, obj)
      bo.extobjAdd()
      record.result.vmBo = r.vmBoState(bo)
      lists(r, vm, record.result, ['extobj'])
    })
  },
  'vm.madvise'(r, req, record) {
    const vm = r.vm(req)
    const request = mapRequest(r, req)
    onVm(r, vm, record, () => {
      const ops = vm.madviseOps(request)
      record.opList = [...ops].map((op) => r.step(op))
      const c = ops.counts()
      Object.assign(record.result, { map: c.map, remap: c.remap, unmap: c.unmap })
    })
  },
  'vm.exec_lock'(r, req, record) {
    const vm = r.vm(req)
    if ((req.addr === undefined) !== (req.range === undefined))
      r.format(
        req.line,
        req.addr === undefined ? 'addr' : 'range',
        'vm.exec_lock locks a range with both addr and range',
      )
    if (req.objs !== undefined && req.addr !== undefined)
      r.format(req.line, 'objs', 'vm.exec_lock takes objs (lock_array) or addr and range (lock_range), not both')
    const objs = req.objs?.map((name) => r.obj(req, 'objs', name))
    onVm(r, vm, record, () => {
      const h = r.create(r.execs, 'exec', 'exec', req.exec!, req.line, () =>
        execLock(vm, {
          numFences: req.numFences,
          objs,
          range: req.addr === undefined ? undefined : { addr: req.addr, range: req.range! },
          ignoreDuplicates: req.ignoreDuplicates,
        }),
      )
      record.result.locked = r.objNames(h.exec.objects)
      // Under RESV_PROTECTED, prepare_objects has just caught the evict list up.
      lists(r, vm, record.result, ['evict'])
      r.s.locks += h.exec.objects.length
    })
  },
  'vm.sm_map_exec_lock'(r, req, record) {
    const vm = r.vm(req)
    const request = mapRequest(r, req)
    onVm(r, vm, record, () => {
      const h = r.create(r.execs, 'exec', 'exec', req.exec!, req.line, () =>
        smMapLockWalk(vm, request, { numFences: req.numFences, ignoreDuplicates: req.ignoreDuplicates }),
      )
      record.result.locked = r.objNames(h.exec.objects)
      r.s.locks += h.exec.objects.length
    })
  },
  'vm.sm_unmap_exec_lock'(r, req, record) {
    const vm = r.vm(req)
    onVm(r, vm, record, () => {
      const h = r.create(r.execs, 'exec', 'exec', req.exec!, req.line, () =>
        smUnmapLockWalk(vm, req.addr!, req.range!, { ignoreDuplicates: req.ignoreDuplicates }),
      )
      record.result.locked = r.objNames(h.exec.objects)
      r.s.locks += h.exec.objects.length
    })
  },
  'vm.validate'(r, req, record) {
    const h = r.exec(req)
    onVm(r, h.vm, record, (vm) => {
      const v = r.driver.validate(h, req.placement!)
      const { result } = record
      result.validated = v.validated.map((bo) => r.vmBo(bo))
      result.bytesMoved = v.bytesMoved
      result.evictions = Number(v.evictions)
      lists(r, vm, result, ['evict'])
    })
  },
  'vm.resv_add_fence'(r, req, record) {
    const h = r.exec(req)
    onVm(r, h.vm, record, () => {
      const { fence, fenced } = addFence(h, req.privateUsage, req.extobjUsage)
      record.result.fence = fence.id
      record.result.fenced = fenced
    })
  },
  'vm.exec_unlock'(r, req, record) {
    const h = r.exec(req)
    r.execs.delete(req.exec!)
    const n = h.exec.objects.length
    h.exec.fini()
    record.result.unlocked = n
  },
  // Atomic bind arrays.
  'bind.array': bindArrayLine,
  // Bind queues and fences.
  ...QUEUE_HANDLERS,
}

/** The map request of a `bind`, `vm.madvise` or `vm.sm_map_exec_lock` line. */
function mapRequest(r: ReplayState, req: ReplayRequest): MapRequest {
  return { addr: req.addr!, range: req.range!, obj: req.obj == null ? null : r.obj(req), offset: req.offset ?? 0n }
}

/** The reservation object of the drm_gpuvm an `obj.create` line names (its private objects share it). */
function vmResv(r: ReplayState, req: ReplayRequest): GemObject {
  const vm = r.vm(req)
  if (vm.resvObject === null)
    throw new DrmError('EINVAL', `VA space '${vm.name}' is not a drm_gpuvm: it has no reservation to share`)
  return vm.resvObject
}

/**
 * A `bind` or `unbind` naming an exec context: the objects its walk needs
 * locked whose reservation the context does not hold (`missingLocks`), before it runs.
 */
function checkLocks(r: ReplayState, req: ReplayRequest, record: ReplayRecord, ops: () => OpList): void {
  const h = r.exec(req)
  record.result.missingLocks = r.objNames(missingResvLocks(h.exec, ops()))
}

/** Runs a hub request on `vm`, then takes its warnings (even when it failed). */
function onVm(r: ReplayState, vm: GpuVm, record: ReplayRecord, f: (vm: GpuVm) => void): void {
  try {
    f(vm)
  } finally {
    r.warnings(vm, record)
  }
}

/** The lists of a drm_gpuvm as results: `extobj`, `evict` (list order) and `defer` (newest first). */
function lists(
  r: ReplayState,
  vm: GpuVm,
  result: ReplayRecord['result'],
  which: readonly ('extobj' | 'evict' | 'defer')[],
): void {
  for (const list of which) {
    const bos = list === 'extobj' ? vm.extobjList() : list === 'evict' ? vm.evictList() : vm.deferList()
    result[list] = bos.map((bo) => r.vmBo(bo))
  }
}

/** Applies the steps of a bind or unbind one by one, recording each; then takes the VM's warnings. */
function walk(r: ReplayState, vm: GpuVm, steps: ReturnType<GpuVm['unmapSteps']>, record: ReplayRecord): void {
  try {
    for (const op of steps) {
      const step = r.step(op)
      vm.apply(op)
      record.steps.push(step)
      r.s.ops[step.kind]++
      // A drm_gpuvm whose creator let go is torn down with its last mapping: the walk ends there.
      if (vm.destroyed) break
    }
  } finally {
    r.warnings(vm, record)
  }
}

/**
 * Runs requests one line at a time. `feed` takes one line (without its
 * newline) and its 1-based number; `finish` returns the result. Synchronous:
 * use it directly when the lines are at hand, or through `replay` /
 * `replayFile`.
 */
export class Replayer {
  readonly file: string
  readonly engine: EngineName | undefined
  readonly keepGoing: boolean
  readonly maxLineBytes: number
  readonly maxHandles: number
  readonly #onRecord: ((record: ReplayRecord) => void) | undefined
  readonly #r: ReplayState
  readonly #errors: ReplayError[] = []
  #lastLine = 0
  #finished = false
  #runs: PlainRuns | undefined

  constructor(options: ReplayOptions = {}) {
    if (typeof options !== 'object' || options === null)
      throw new DrmError('EINVAL', 'replay options must be an object')
    this.file = options.file ?? 'replay.jsonl'
    this.engine = options.engine
    this.keepGoing = options.keepGoing === true
    this.maxLineBytes = limit(options.maxLineBytes, DEFAULT_MAX_LINE_BYTES, 'maxLineBytes')
    this.maxHandles = limit(options.maxHandles, DEFAULT_MAX_HANDLES, 'maxHandles')
    this.#onRecord = options.onRecord
    this.#r = new ReplayState(this.file, this.engine, this.maxHandles)
    // The page-table cost model (issue 15), checked here so a bad profile fails before any line.
    if (options.pageTable !== undefined) this.#r.driver.pageTable = readPageTableProfile(options.pageTable)
  }

  get device(): Device {
    return this.#r.device
  }

  /**
   * One line. Blank lines and lines starting with `#` are skipped. `terminated`
   * false marks a last line with no newline: if it does not parse, the
   * message says it was truncated.
   */
  feed(text: string, line: number, terminated = true): ReplayRecord | undefined {
    const r = this.#r
    if (this.#finished) throw new DrmError('EINVAL', 'this replay has finished')
    if (typeof text !== 'string') r.format(line, undefined, `a line must be a string, got ${show(text)}`)
    this.#lastLine = line
    if (text.length > this.maxLineBytes || Buffer.byteLength(text) > this.maxLineBytes) {
      r.format(line, undefined, `line longer than ${this.maxLineBytes} bytes`)
    }
    const plain = plainBindLine(text, line)
    if (plain !== undefined) {
      r.s.requests++
      return this.run(plain)
    }
    const trimmed = text.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return undefined
    if (nestsTooDeep(trimmed)) r.format(line, undefined, `bad JSON: nested more than ${MAX_LINE_DEPTH} deep`)
    let value: unknown
    try {
      value = JSON.parse(trimmed)
    } catch (err) {
      const why = (err as Error).message
      r.format(
        line,
        undefined,
        terminated ? `bad JSON: ${why}` : `truncated last line (no newline at the end, and not valid JSON: ${why})`,
      )
    }
    const req = checkRequest(value, this.file, line)
    if (req.op === 'device' && (r.hasDevice || r.s.requests > 0)) {
      r.format(line, 'op', '"device" must be the first request (it sets up the device the others use)')
    }
    r.s.requests++
    return this.run(req)
  }

  /**
   * @internal Lines in order, as `feed` takes them one by one, for callers
   * that drop what `feed` returns (`replay`, `replayFile`): when this replay
   * has no `onRecord` and discards its records, runs of plain bind/unbind
   * lines go to the engine in one call each (fast-runs.ts). `runLines`: the
   * most lines of a run (tests; the first call's is kept).
   */
  feedLines(lines: readonly Line[], runLines?: number): void {
    if (this.#finished) throw new DrmError('EINVAL', 'this replay has finished')
    const r = this.#r
    const runs =
      r.countsOnly && this.#onRecord === undefined
        ? (this.#runs ??= new PlainRuns(r, this.maxLineBytes, runLines))
        : null
    for (let i = 0; i < lines.length; ) {
      const n = runs === null ? 0 : runs.apply(lines, i, lines.length)
      if (n !== 0) {
        i += n
        this.#lastLine = lines[i - 1].line
        if (!runs!.failed) continue
      }
      // Not for a run, or the line a run failed at: it fails again here, with its own error.
      const { text, line, terminated } = lines[i++]
      this.feed(text, line, terminated)
    }
  }

  /** Runs one checked request. */
  run(req: ReplayRequest): ReplayRecord {
    const r = this.#r
    const record: ReplayRecord = { request: req, steps: [], result: {}, violations: [], warnings: [] }
    let failed: DrmError | null = null
    try {
      try {
        if (Object.hasOwn(HANDLERS, req.op)) HANDLERS[req.op as ReplayOpName](r, req, record)
      } finally {
        r.settle(record)
      }
    } catch (err) {
      if (err instanceof ReplayError && err.kind === 'format') throw err
      if (!(err instanceof DrmError)) throw err
      failed = err
    }
    // A line expecting an errno (expect.ts): that failure is its result, any other outcome an error.
    const err = req.expectErrno === undefined ? failed : expectedOutcome(req, record, failed)
    if (err !== null) {
      const e =
        err instanceof ReplayError
          ? err
          : new ReplayError('simulation', err.errno, r.at(req.line), `${req.op}: ${err.message}`, { cause: err })
      r.s.errors++
      record.error = e
      if (!this.keepGoing) {
        r.collect(record)
        this.#onRecord?.(record)
        throw e
      }
      if (this.#errors.length < KEPT_ERRORS) this.#errors.push(e)
    }
    r.collect(record)
    this.#onRecord?.(record)
    return record
  }

  /**
   * @internal For callers that read no record's steps (`replay` and
   * `replayFile` without `onRecord`, which drop what `feed` returns;
   * `drmsim replay --summary`, which reads only errors): plain binds and
   * unbinds may then be applied in one call each (fast-lines.ts). Without
   * `evenWithOnRecord`, only when this replay has no `onRecord`.
   */
  discardRecords(evenWithOnRecord = false): void {
    this.#r.countsOnly = evenWithOnRecord || this.#onRecord === undefined
  }

  /** Ends the replay: the summary, and the live state for pictures. EINVAL (format) when no request was seen. */
  finish(): ReplayResult {
    const r = this.#r
    if (r.s.requests === 0) {
      r.format(
        Math.max(1, this.#lastLine),
        undefined,
        this.#lastLine === 0 ? 'empty file: no requests' : 'no requests (only blank or comment lines)',
      )
    }
    this.#finished = true
    const device = r.device
    const totals = (device as unknown as { placementTotals?: { bytesMoved: bigint; evictions: bigint } })
      .placementTotals
    const { hash, mappings } = stateHash(
      [...r.vms].map(([name, { value }]) => [name, value]),
      (obj) => r.name(obj),
    )
    const names = r.names
    return {
      summary: {
        ...r.s,
        ops: { ...r.s.ops },
        mappings,
        bytesMoved: totals?.bytesMoved ?? 0n,
        evictions: totals?.evictions ?? 0n,
        stateFnv1a64: hash,
      },
      device,
      vms: new Map([...r.vms].map(([k, v]) => [k, v.value])),
      objects: new Map([...r.objs].map(([k, v]) => [k, v.value])),
      nameOf: (obj) => names.get(obj),
      errors: [...this.#errors],
    }
  }
}

function limit(v: unknown, fallback: number, what: string): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new DrmError('EINVAL', `${what} must be a positive integer, got ${show(v)}`)
  return v
}
