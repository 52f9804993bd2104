/**
 * The public API under distrust (issue 12): a native and a reference VA
 * space driven side by side by the same random commands, through GpuVm alone
 * — many distinct objects, op lists (OpList and packed) and their reading,
 * walks consumed, abandoned, returned and thrown into, tampered handles,
 * transferred op-list buffers and hostile arguments. After every command both
 * must give the same value (as plain data) or the same DrmError errno, never
 * another error (but the TypeError of assigning to a frozen handle, or a
 * caller's own error thrown back), and then hold the same mappings. The
 * commands and hostile values are in fixtures/trust-commands.ts; the same
 * rules one at a time are in trust-rules.spec.ts.
 *
 * fast-check prints the seed of a failure: replay it with
 * `DRMSIM_FC_SEED=<seed> npx vitest run __test__/trust-property.spec.ts`, and
 * run longer with `DRMSIM_FC_RUNS=<runs>` (100 by default).
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { BindBatch } from '../lib/gpuvm/batch.js'
import { GemObject } from '../lib/device/gem.js'
import { GpuVm } from '../lib/gpuvm/gpuvm.js'
import { OpList, type Op } from '../lib/gpuvm/ops.js'
import { PackedOps } from '../lib/gpuvm/packed-ops.js'
import { Va } from '../lib/gpuvm/va.js'
import { P, opData, packedData, state, text } from './fixtures/plain.js'
import { BASE, CallerError, ENGINES, type Engine, plain, type Result, run } from './fixtures/trust.js'
import { type Cmd, cmdArb, hostile, type MapReq } from './fixtures/trust-commands.js'

// ---- the two worlds -----------------------------------------------------------

interface World {
  vm: GpuVm
  lists: { list: PackedOps | OpList; snapshot: string; touched: boolean }[]
  /**
   * Iterator walks. One is opened (enters the engine, ending the walk open
   * before it) by its first `next()`, not by `mapSteps()`, which only checks
   * the request; `superseded` is null when a failed call may or may not have
   * ended it.
   */
  walks: { it: IterableIterator<Op>; started: boolean; superseded: boolean | null; ended: boolean }[]
}

/** What every run counts, for the README's reliability section. */
const counts = { runs: 0, commands: 0, byKind: {} as Record<string, number>, objectsBound: 0, maxObjectsInOneVm: 0 }

const listText = (l: PackedOps | OpList): string => text(plain(l))

function run2(objs: GemObject[], cmds: Cmd[]): void {
  const worlds = Object.fromEntries(
    ENGINES.map((engine) => [
      engine,
      { vm: new GpuVm({ engine, range: 1n << 48n, reserve: { offset: 0n, range: P } }), lists: [], walks: [] } as World,
    ]),
  ) as Record<Engine, World>
  let region = 0
  let distinct = 0
  const obj = (i: number | null): GemObject | null => (i === null ? null : objs[i % objs.length])
  const req = (r: MapReq) => ({
    addr: BASE + BigInt(r.page) * P,
    range: BigInt(r.pages) * P,
    obj: obj(r.obj),
    offset: BigInt(r.off) * P,
  })
  const nth = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined)

  for (const cmd of cmds) {
    counts.commands++
    counts.byKind[cmd.c] = (counts.byKind[cmd.c] ?? 0) + 1
    const before = Object.fromEntries(ENGINES.map((e) => [e, text(run(() => state(worlds[e].vm)))]))
    const results = {} as Record<Engine, Result>
    const openBefore = worlds.native.walks.some((w) => w.started && !w.ended && w.superseded === false)
    let fresh: GemObject[] = []
    const sub = new SubGem({ size: P })
    if (cmd.c === 'remapNew') fresh = [new GemObject({ size: 1n << 20n }), new GemObject({ size: 1n << 20n })]
    if (cmd.c === 'bindMany') fresh = Array.from({ length: cmd.n }, () => new GemObject({ size: P }))
    for (const engine of ENGINES) results[engine] = step(worlds[engine], engine)
    const [n, r] = [results.native, results.reference]
    if (openBefore && ['insert', 'remove', 'link', 'opList', 'readList'].includes(cmd.c)) {
      expect(n, `${cmd.c} while a walk is open`).not.toEqual({ errno: 'EBUSY' })
    }
    expect(text(n), `${cmd.c}: native against reference`).toBe(text(r))
    expect('foreign' in n ? n.foreign : 'no foreign error', cmd.c).toBe('no foreign error')
    if (cmd.c === 'bindMany' && 'ok' in n) {
      distinct += cmd.n
      counts.objectsBound += cmd.n
      counts.maxObjectsInOneVm = Math.max(counts.maxObjectsInOneVm, distinct)
      region++
    }
    // Bad arguments and tampered handles change nothing.
    if ((cmd.c === 'hostile' || cmd.c === 'tamper') && !('ok' in n)) {
      for (const e of ENGINES)
        expect(text(run(() => state(worlds[e].vm))), `${cmd.c} ${e}: state unchanged`).toBe(before[e])
    }
    const after = ENGINES.map((e) => text(run(() => state(worlds[e].vm))))
    // A live VA space can always list its mappings: every object they name is known to it.
    ENGINES.forEach((e, i) => {
      if (!worlds[e].vm.destroyed) expect(after[i], `${cmd.c}: ${e} lists its mappings`).toMatch(/^\{"ok"/)
    })
    expect(after[0], `${cmd.c}: the same mappings`).toBe(after[1])
    // Lists nobody wrote to or transferred still read as when they were made.
    for (const e of ENGINES) {
      for (const l of worlds[e].lists)
        if (!l.touched) expect(listText(l.list), `${cmd.c} ${e}: an untouched op list`).toBe(l.snapshot)
    }

    function step(w: World, engine: Engine): Result {
      const vm = w.vm
      const vaPick = (i: number) => (vm.destroyed ? undefined : nth([...vm.vas()], i))
      /** A successful split/merge call supersedes the open walks; a failed one leaves it open to the implementation. */
      const supersede = (res: Result, except?: unknown): Result => {
        for (const walk of w.walks)
          if (walk.started && !walk.ended && walk !== except)
            walk.superseded = 'ok' in res ? true : walk.superseded === true ? true : null
        return res
      }
      switch (cmd.c) {
        case 'bind':
          return supersede(run(() => vm.bind(req(cmd.r))))
        case 'unbind':
          return supersede(run(() => vm.unbind(BASE + BigInt(cmd.page) * P, BigInt(cmd.pages) * P)))
        case 'bindMany': {
          const at = (i: number) => (1n << 40n) + BigInt(region) * (1n << 32n) + BigInt(i) * P
          if (cmd.batch) {
            const b = new BindBatch()
            fresh.forEach((o, i) => b.map({ addr: at(i), range: P, obj: o, offset: 0n }))
            return supersede(run(() => vm.bindBatch(b)))
          }
          return supersede(
            run(() => fresh.reduce((n, o, i) => n + vm.bind({ addr: at(i), range: P, obj: o, offset: 0n }).map, 0)),
          )
        }
        case 'batch': {
          const b = new BindBatch()
          for (const q of cmd.reqs) {
            if ('obj' in q) b.map(req(q))
            else b.unmap(BASE + BigInt(q.page) * P, BigInt(q.pages) * P)
          }
          const per = cmd.per ? new Uint32Array(3 * b.length) : null
          return supersede(run(() => ({ total: vm.bindBatch(b, per), per: per && [...per] })))
        }
        case 'insert':
          return run(() => vm.insert(req(cmd.r)))
        case 'remapNew': {
          const va = vaPick(cmd.pick)
          if (!va || va.range < 2n * P) return { ok: 'no va' }
          const [x, y] = fresh
          return run(() =>
            vm.apply({
              kind: 'remap',
              prev: { addr: va.addr, range: P, obj: x, offset: 0n },
              next: { addr: va.end - P, range: P, obj: y, offset: 0n },
              unmap: { va, keep: false },
            }),
          )
        }
        case 'remove':
          return run(() => vm.remove(vaPick(cmd.pick)!))
        case 'link':
          return run(() => {
            const va = vaPick(cmd.pick)!
            if (cmd.on) vm.link(va)
            else vm.unlink(va)
            return vm.isLinked(va)
          })
        case 'opList': {
          const q = req(cmd.r)
          const res = run(() => {
            const l =
              cmd.kind === 'smMap'
                ? cmd.packed
                  ? vm.smMapOpsPacked(q)
                  : vm.smMapOps(q)
                : cmd.kind === 'smUnmap'
                  ? cmd.packed
                    ? vm.smUnmapOpsPacked(q.addr, q.range)
                    : vm.smUnmapOps(q.addr, q.range)
                  : cmd.kind === 'prefetch'
                    ? cmd.packed
                      ? vm.prefetchOpsPacked(q.addr, q.range)
                      : vm.prefetchOps(q.addr, q.range)
                    : cmd.packed
                      ? vm.gemUnmapOpsPacked(q.obj ?? objs[0])
                      : vm.gemUnmapOps(q.obj ?? objs[0])
            w.lists.push({ list: l, snapshot: listText(l), touched: false })
            if (w.lists.length > 6) w.lists.shift()
            return l
          })
          return res
        }
        case 'readList': {
          const l = nth(w.lists, cmd.pick)
          if (!l) return { ok: 'no list' }
          const ops = l.list
          if (ops instanceof OpList)
            return run(() => [...ops.reversed()].map(opData).concat([...ops.ofKind('remap')].map(opData)))
          return run(() => {
            switch (cmd.field) {
              case 'all':
                return [packedData(ops), [...ops].map(opData), [...ops.toOpList()].map(opData), ops.length]
              case 'counts':
                return ops.counts()
              default:
                return (ops[cmd.field] as (i: number) => unknown).call(ops, cmd.i)
            }
          })
        }
        case 'writeWords': {
          const l = nth(w.lists, cmd.pick)
          if (!l || !(l.list instanceof PackedOps)) return { ok: 'no packed list' }
          const ops = l.list
          l.touched = true
          return run(() => {
            const words = ops.words
            // A transferred buffer leaves a typed array of length 0, which cannot be spread.
            if (words.length === 0) return 'no words'
            words[cmd.word % words.length] = cmd.value
            return [...words]
          })
        }
        case 'transfer': {
          const l = nth(w.lists, cmd.pick)
          if (!l || !(l.list instanceof PackedOps)) return { ok: 'no packed list' }
          const ops = l.list
          l.touched = true
          const moved = run(() => {
            const words = ops.words
            if (cmd.how === 'structuredClone')
              return [...structuredClone(words, { transfer: [words.buffer as ArrayBuffer] })]
            const { port1, port2 } = new MessageChannel()
            port1.postMessage(words, [words.buffer as ArrayBuffer])
            port1.close()
            port2.close()
            return words.length
          })
          // Once its buffer is gone, the list's accessors refuse (EINVAL), for an empty list too.
          const after = run(() => (ops.length > 0 ? ops.kind(0) : ops.words.length))
          if (ops.length > 0) expect(after, `${engine}: a transferred list's accessor`).toEqual({ errno: 'EINVAL' })
          return { ok: [moved, after] } as Result
        }
        case 'walkOpen': {
          const q = req(cmd.r)
          let it: IterableIterator<Op> | undefined
          const res = run(() => void (it = cmd.map ? vm.mapSteps(q) : vm.unmapSteps(q.addr, q.range)))
          if (it) w.walks.push({ it, started: false, superseded: false, ended: false })
          return res
        }
        case 'walkNext': {
          const walk = nth(w.walks, cmd.pick)
          if (!walk) return { ok: 'no walk' }
          const wasEnded = walk.ended
          let op: Op | undefined
          const res = run(() => {
            const r = walk.it.next()
            op = r.done ? undefined : r.value
            return { done: r.done, value: r.done ? null : opData(r.value) }
          })
          if (!walk.started) {
            supersede(res, walk)
            walk.started = true
          } else if (!wasEnded) {
            if (walk.superseded === true)
              expect(res, `${engine}: a superseded walk's next()`).toEqual({ errno: 'EBUSY' })
            if (walk.superseded === false)
              expect(res, `${engine}: an open walk's next()`).not.toEqual({ errno: 'EBUSY' })
          }
          if (!op) walk.ended = true
          else if (cmd.apply) return { ok: [res, run(() => vm.apply(op!))] } as Result
          return res
        }
        case 'walkEnd': {
          const i = w.walks.length ? cmd.pick % w.walks.length : -1
          if (i < 0) return { ok: 'no walk' }
          const walk = w.walks[i]
          let res: Result
          if (cmd.how === 'return') res = run(() => walk.it.return!())
          else if (cmd.how === 'throw') res = run(() => walk.it.throw!(new CallerError('stop')))
          else if (cmd.how === 'drain') {
            res = run(() => [...walk.it].map(opData))
            if (!walk.started) supersede(res, walk)
          } else res = { ok: 'dropped' }
          walk.ended = true
          w.walks.splice(i, 1)
          if (cmd.how === 'return' || cmd.how === 'throw') {
            // Ended: its next() is done, and nothing is held (a bind goes through).
            expect(
              run(() => walk.it.next()),
              `${engine}: an ended walk`,
            ).toEqual({ ok: { done: true, value: undefined } })
          }
          return res
        }
        case 'reenter': {
          const inner: Result[] = []
          const once = (op: Op) => {
            inner.push(
              run(() => {
                const q = req(cmd.r)
                if (cmd.inner === 'bind') return vm.bind(q)
                if (cmd.inner === 'unbind') return vm.unbind(q.addr, q.range)
                if (cmd.inner === 'mapSteps') return [...vm.mapSteps(q)].length
                if (cmd.inner === 'smUnmapOps') return vm.smUnmapOps(q.addr, q.range)
                return vm.destroy()
              }),
            )
            vm.apply(op)
          }
          const res = supersede(run(() => vm.smMap(req(cmd.r), { map: once, remap: once, unmap: once })))
          for (const r of inner)
            if (cmd.inner !== 'smUnmapOps')
              expect(r, `${engine}: re-entry from a step callback`).toEqual({ errno: 'EBUSY' })
          return { ok: [res, inner] } as Result
        }
        case 'tamper': {
          const res = tamper(vm, cmd, vaPick(cmd.pick), objs[cmd.pick % objs.length], sub)
          // A bind or batch that takes the tampered value (a subclass's instance is a real GemObject) is a split/merge call.
          return cmd.use === 'bind' || cmd.use === 'batch' ? supersede(res) : res
        }
        case 'hostile':
          return hostileCall(vm, cmd, req(cmd.r))
        case 'destroy':
          return supersede(run(() => vm.destroy()))
      }
    }
  }
  for (const engine of ENGINES) if (!worlds[engine].vm.destroyed) worlds[engine].vm.destroy()
  counts.runs++
}

type TamperCmd = Extract<Cmd, { c: 'tamper' }>

/** A subclass's instance, the same one for both engines. */
class SubGem extends GemObject {}

function tamper(vm: GpuVm, cmd: TamperCmd, va: Va | undefined, bo: GemObject, sub: GemObject): Result {
  let fake: unknown
  switch (cmd.how) {
    case 'assignVa': {
      if (!va) return { ok: 'no va' }
      const addr = va.addr
      const res = run(() => ((va as { addr: bigint }).addr = addr + 1n), true)
      expect(res, 'assigning to a Va field').toEqual({ typeError: true })
      expect(va.addr).toBe(addr)
      fake = va
      break
    }
    case 'assignGem': {
      const id = bo.id
      expect(
        run(() => ((bo as { id: number }).id = -1), true),
        'assigning to a GemObject field',
      ).toEqual({ typeError: true })
      expect(bo.id).toBe(id)
      fake = bo
      break
    }
    case 'proxyVa':
      if (!va) return { ok: 'no va' }
      fake = new Proxy(va, {})
      break
    case 'proxyGem':
      fake = new Proxy(bo, {})
      break
    case 'lookAlikeVa':
      fake = Object.assign(
        Object.create(Va.prototype),
        va ? { ...va } : { vm, addr: BASE, range: P, obj: null, offset: 0n, seq: 1 },
      )
      break
    case 'lookAlikeGem':
      fake = Object.assign(Object.create(GemObject.prototype), { id: bo.id, size: P })
      break
    case 'newVa': {
      const res = run(() => new (Va as unknown as new (...a: unknown[]) => Va)(vm, BASE, P, bo, 0n, 1))
      expect(res, 'new Va(...)').toEqual({ errno: 'EINVAL' })
      return res
    }
    case 'subclassGem':
      // A subclass's instance is a real GemObject: it works as one.
      fake = sub
      break
  }
  const asVa = fake as Va
  const asGem = fake as GemObject
  const real = cmd.how === 'assignVa' || cmd.how === 'assignGem' || cmd.how === 'subclassGem'
  const res = run(() => {
    switch (cmd.use) {
      case 'remove':
        return vm.remove(asVa)
      case 'link':
        return vm.link(asVa)
      case 'isLinked':
        return vm.isLinked(asVa)
      case 'invalidate':
        return vm.invalidate(asVa)
      case 'gemVas':
        return vm.gemVas(asGem)
      case 'gemUnmapOps':
        return vm.gemUnmapOpsPacked(asGem)
      case 'bind':
        return vm.bind({ addr: BASE + 70n * P, range: P, obj: asGem, offset: 0n })
      case 'insert':
        return vm.insert({ addr: BASE + 71n * P, range: P, obj: asGem, offset: 0n })
      case 'batch': {
        const b = new BindBatch()
        b.map({ addr: BASE + 72n * P, range: P, obj: asGem, offset: 0n })
        return vm.bindBatch(b)
      }
      case 'apply':
        return vm.apply({ kind: 'unmap', va: asVa, keep: false })
    }
  })
  // A Proxy or a look-alike passed where a handle of its kind is expected is EINVAL.
  const vaUse = ['remove', 'link', 'isLinked', 'invalidate', 'apply'].includes(cmd.use)
  const matches = vaUse === (cmd.how === 'proxyVa' || cmd.how === 'lookAlikeVa' || cmd.how === 'assignVa')
  if (!real && matches) expect(res, `${cmd.how} passed to ${cmd.use}`).toEqual({ errno: 'EINVAL' })
  return res
}

function hostileCall(
  vm: GpuVm,
  cmd: Extract<Cmd, { c: 'hostile' }>,
  q: { addr: bigint; range: bigint; obj: GemObject | null; offset: bigint },
): Result {
  const valid = q as unknown as Record<string, unknown>
  /** The request with the hostile value in it: as a whole, or in one field. */
  const request = (): unknown => {
    if (cmd.where === 'request') return hostile(cmd.h, valid)
    const field = ['addr', 'range', 'offset', 'obj'].includes(cmd.where) ? cmd.where : 'addr'
    if (cmd.h === 'flipping' || cmd.h === 'throwing') return hostile(cmd.h, valid, field)
    return { ...valid, [field]: hostile(cmd.h, valid, field) }
  }
  const arg = (): unknown => hostile(cmd.h, valid)
  const a = (x: unknown) => x as bigint
  return run(() => {
    switch (cmd.method) {
      case 'bind':
        return vm.bind(request() as never)
      case 'insert':
        return vm.insert(request() as never)
      case 'smMapOps':
        return vm.smMapOps(request() as never)
      case 'mapSteps':
        return [...vm.mapSteps(request() as never)].length
      case 'smMap':
        return vm.smMap(request() as never, { map: () => {}, remap: () => {}, unmap: () => {} })
      case 'batchMap': {
        const b = new BindBatch()
        b.map(request() as never)
        return vm.bindBatch(b)
      }
      case 'unbind':
        return cmd.where === 'range' ? vm.unbind(q.addr, a(arg())) : vm.unbind(a(arg()), q.range)
      case 'smUnmapOpsPacked':
        return cmd.where === 'range' ? vm.smUnmapOpsPacked(q.addr, a(arg())) : vm.smUnmapOpsPacked(a(arg()), q.range)
      case 'unmapSteps':
        return [...(cmd.where === 'range' ? vm.unmapSteps(q.addr, a(arg())) : vm.unmapSteps(a(arg()), q.range))].length
      case 'find':
        return vm.find(a(arg()), q.range)
      case 'findFirst':
        return vm.findFirst(q.addr, a(arg()))
      case 'intervalEmpty':
        return vm.intervalEmpty(a(arg()), a(arg()))
      case 'bindBatch':
        return cmd.where === 'per' ? vm.bindBatch(new BindBatch(), arg() as never) : vm.bindBatch(arg() as never)
      case 'remove':
        return vm.remove(arg() as never)
      case 'gemVas':
        return vm.gemVas(arg() as never)
      case 'apply':
        return vm.apply(cmd.where === 'op' ? (arg() as never) : ({ kind: 'map', map: request() } as never))
    }
  })
}

// ---- the property -------------------------------------------------------------

/** DRMSIM_FC_SEED replays a failure (fast-check prints the seed); DRMSIM_FC_RUNS runs longer (as in cross-engine.spec.ts). */
const seed = Number(process.env.DRMSIM_FC_SEED ?? Date.now() % 2 ** 31)
const numRuns = Number(process.env.DRMSIM_FC_RUNS ?? 100)

describe('the public API under distrust, native against reference', () => {
  afterAll(() => {
    // The counts for the README's reliability section.
    console.log(`trust-property.spec counts (seed ${seed}): ${JSON.stringify(counts)}`)
  })

  it('agree call by call on every command, and refuse what is not theirs', () => {
    const objs = Array.from({ length: 12 }, () => new GemObject({ size: 16n * P }))
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 10, maxLength: 60 }), (cmds) => run2(objs, cmds)),
      { numRuns, seed },
    )
    expect(counts.runs).toBeGreaterThanOrEqual(numRuns)
  })
})
