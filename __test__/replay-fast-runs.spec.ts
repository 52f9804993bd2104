// Runs of plain bind/unbind lines in one engine call (lib/replay/fast-runs.ts):
// a replay fed through `feedLines` (records discarded, no onRecord) ends
// exactly as the same lines fed one at a time and as the step-by-step replay:
// summary, state hash, the mappings left (with their seq), the errors with
// their lines, and the first error when the replay stops at it. Workloads put
// errors inside runs, non-plain lines between them, warnings, a second VA
// space and a drm_gpuvm, and runs of exactly the run size and one more.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { GpuVm, type ReplayResult } from '../lib/index.js'
import { Replayer, summaryJson } from '../lib/replay/index.js'
import type { ReplayOptions } from '../lib/replay/record.js'

type Engine = 'native' | 'reference'

/** What a replay leaves that anyone can see: as JSON text, so the comparison is byte for byte. */
function outcome(run: () => ReplayResult): string {
  let result: ReplayResult | undefined
  let thrown: unknown
  try {
    result = run()
  } catch (err) {
    thrown = err
  }
  const e = thrown as { kind?: string; errno?: string; line?: number; message?: string } | undefined
  return JSON.stringify(
    {
      thrown: e && [e.kind, e.errno, e.line, e.message],
      summary: result && summaryJson(result.summary),
      errors: result?.errors.map((x) => [x.kind, x.errno, x.line, x.message]),
      vms:
        result &&
        [...result.vms].map(([name, vm]) => [
          name,
          [...vm.vas()].map((va) => [
            va.addr,
            va.range,
            va.obj && (result!.nameOf(va.obj) ?? `#${va.obj.id}`),
            va.offset,
            va.seq,
          ]),
        ]),
    },
    (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v),
  )
}

const split = (text: string) => text.split('\n').filter((_, i, all) => i < all.length - 1 || all[i] !== '')

/** One line at a time through `feed` (the one-call path of fast-lines.ts), records discarded. */
function oneByOne(text: string, options: ReplayOptions): ReplayResult {
  const r = new Replayer(options)
  r.discardRecords()
  split(text).forEach((t, i) => {
    r.feed(t, i + 1)
  })
  return r.finish()
}

/** Through `feedLines` with runs of at most `runLines` lines. */
function batched(text: string, options: ReplayOptions, runLines: number): ReplayResult {
  const r = new Replayer(options)
  r.discardRecords()
  r.feedLines(
    split(text).map((t, i) => ({ text: t, line: i + 1, terminated: true })),
    runLines,
  )
  return r.finish()
}

/** Step by step, each record read (the general path). */
function stepped(text: string, options: ReplayOptions): ReplayResult {
  const r = new Replayer({ ...options, onRecord: () => {} })
  split(text).forEach((t, i) => {
    r.feed(t, i + 1)
  })
  return r.finish()
}

/** A small random generator (the same lines every run). */
function rng(seed: number) {
  let x = seed
  return (n: number) => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    // The high bits: an LCG's low ones repeat with a short period.
    return Math.floor((x / 2 ** 31) * n)
  }
}

/** A plain bind or unbind of VA space `vm` over 256 pages, of objects o1..o3. */
function plainLine(rnd: (n: number) => number, vm = 'a'): string {
  const addr = `0x${((1 + rnd(255)) * 0x1000).toString(16)}`
  const range = `0x${((1 + rnd(16)) * 0x1000).toString(16)}`
  if (rnd(3) === 0) return `{"op":"unbind","vm":"${vm}","addr":"${addr}","range":"${range}"}`
  const obj = rnd(8) === 0 ? '' : `,"obj":"o${1 + rnd(3)}"`
  return `{"op":"bind","vm":"${vm}","addr":"${addr}","range":"${range}"${obj},"offset":"0x${(rnd(8) * 0x1000).toString(16)}"}`
}

const HEAD = [
  '{"op":"vm.create","vm":"a","range":"0x100000000","reserve":["0","0x1000"]}',
  '{"op":"vm.create","vm":"b","range":"0x100000000"}',
  '{"op":"vm.create","vm":"n","range":"0x100000000","era":"drm_gpuvm-next"}',
  '{"op":"obj.create","obj":"o1","size":"0x100000"}',
  '{"op":"obj.create","obj":"o2","size":"0x100000"}',
  '{"op":"obj.create","obj":"o3","size":"0x100000"}',
]

/** Mostly plain lines, with refused ones, non-plain ones, warnings and other VA spaces among them. */
function mixed(seed: number, n: number): string {
  const rnd = rng(seed)
  const lines = [...HEAD]
  for (let i = 0; i < n; i++) {
    switch (rnd(40)) {
      case 0:
        lines.push('{"op":"bind","vm":"a","addr":"0x0","range":"0x1000","obj":"o1"}') // the reserved node: EINVAL
        break
      case 1:
        lines.push('{"op":"bind","vm":"a","addr":"0xfffff000","range":"0x2000","obj":"o2"}') // past the VA space
        break
      case 2:
        lines.push('{"op":"bind","vm":"a","addr":"0xfffffffffffff000","range":"0x2000"}') // overflows: a warning
        break
      case 3:
        lines.push('{"op":"unbind","vm":"n","addr":"0x1000","range":"0x0"}') // empty, refused from era 2
        break
      case 4:
        lines.push(plainLine(rnd, 'b')) // another VA space
        break
      case 5:
        lines.push(plainLine(rnd, 'n')) // a drm_gpuvm
        break
      case 6:
        lines.push('{"op":"pin","obj":"o1"}', '{"op":"unpin","obj":"o1"}') // not plain
        break
      case 7:
        lines.push(' {"op":"unbind","vm":"a","addr":"0x2000","range":"0x1000"}') // plain, but not in drmsim's layout
        break
      case 8:
        lines.push('', '# a comment')
        break
      case 9:
        lines.push('{"op":"unbind","vm":"a","addr":"0x3000","range":"0x1000","expectErrno":"EINVAL"}') // expected, not met
        break
      default:
        lines.push(plainLine(rnd))
    }
  }
  return `${lines.join('\n')}\n`
}

/** `runs` runs of exactly `size` plain lines, each cut by a pin, the `fail`-th line of each refused. */
function exactRuns(size: number, runs: number, fail: number | null): string {
  const rnd = rng(size * 31 + runs)
  const lines = [...HEAD]
  for (let k = 0; k < runs; k++) {
    for (let i = 0; i < size; i++)
      lines.push(i === fail ? '{"op":"bind","vm":"a","addr":"0xfffff000","range":"0x2000"}' : plainLine(rnd))
    lines.push('{"op":"pin","obj":"o2"}')
  }
  return `${lines.join('\n')}\n`
}

describe('replay: runs of plain lines in one engine call', () => {
  let batches = 0
  beforeEach(() => {
    batches = 0
    const bindBatch = GpuVm.prototype.bindBatch
    vi.spyOn(GpuVm.prototype, 'bindBatch').mockImplementation(function (this: GpuVm, ...args) {
      batches++
      return bindBatch.apply(this, args)
    })
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  for (const engine of ['native', 'reference'] as const satisfies Engine[]) {
    it(`mixed lines, errors and warnings inside runs: same as one line at a time, under keepGoing (${engine})`, () => {
      const text = mixed(7, 1500)
      const options = { engine, keepGoing: true }
      const one = outcome(() => oneByOne(text, options))
      const steps = outcome(() => stepped(text, options))
      expect(one).toBe(steps)
      for (const size of [1, 2, 5, 64, 1024]) expect(outcome(() => batched(text, options, size))).toBe(one)
      const { summary, errors } = batched(text, options, 64)
      expect(summary.errors).toBeGreaterThan(100)
      expect(summary.warnings).toBeGreaterThan(10)
      expect(summary.ops.remap).toBeGreaterThan(0)
      expect(errors.some((e) => e.message.includes('overflows'))).toBe(true)
      // Runs did go to the engine: far fewer batch calls than plain lines.
      expect(batches).toBeGreaterThan(10)
      expect(batches).toBeLessThan(6 * 1500)
    })

    it(`stops at the same first error, with the same state, without keepGoing (${engine})`, () => {
      const rnd = rng(99)
      const lines = [...HEAD]
      for (let i = 0; i < 300; i++) lines.push(plainLine(rnd))
      lines.push('{"op":"bind","vm":"a","addr":"0xfffff000","range":"0x2000","obj":"o1"}')
      for (let i = 0; i < 20; i++) lines.push(plainLine(rnd))
      const text = `${lines.join('\n')}\n`
      const options = { engine }
      const one = outcome(() => oneByOne(text, options))
      expect(one).toContain('leaves the VA space')
      expect(one).toContain(`"simulation","EINVAL",${HEAD.length + 301}`)
      for (const size of [1, 7, 300, 301, 302, 1024]) {
        // The replay after the error: finish() shows the requests counted and the state left.
        const r = new Replayer(options)
        r.discardRecords()
        const all = split(text).map((t, i) => ({ text: t, line: i + 1, terminated: true }))
        const thrown = outcome(() => {
          r.feedLines(all, size)
          return r.finish()
        })
        const ref = new Replayer(options)
        ref.discardRecords()
        const refThrown = outcome(() => {
          for (const l of all) ref.feed(l.text, l.line)
          return ref.finish()
        })
        expect(thrown).toBe(refThrown)
        expect(outcome(() => r.finish())).toBe(outcome(() => ref.finish()))
      }
    })

    it(`runs of exactly the run size, and one more, failing at their ends (${engine})`, () => {
      const size = 16
      for (const [len, fail] of [
        [size, null],
        [size + 1, null],
        [size, size - 1],
        [size + 1, size],
        [size + 1, 0],
        [size - 1, 0],
        [2 * size + 1, size],
      ] as const) {
        const text = exactRuns(len, 5, fail)
        const options = { engine, keepGoing: true }
        const one = outcome(() => oneByOne(text, options))
        expect(outcome(() => batched(text, options, size))).toBe(one)
        if (fail !== null) expect(batched(text, options, size).summary.errors).toBe(5)
      }
    })
  }

  for (const engine of ['native', 'reference'] as const satisfies Engine[]) {
    it(`values in every form the schema reads, long ones and ranges ending at 2^64 (${engine})`, () => {
      const bind = (addr: string, range: string, offset = '"0x0"') =>
        `{"op":"bind","vm":"big","addr":"${addr}","range":"${range}","obj":"o1","offset":${offset}}`
      const lines = [
        '{"op":"vm.create","vm":"big","range":"0xfffffffffffff000"}',
        '{"op":"obj.create","obj":"o1","size":"0x100000"}',
        bind('0xfffffffff0000000', '0x10000', '"0xFFFF000"'),
        bind('0XABCDEF000', '4096', '"0x0000000000001000"'),
        bind('1000000000000000000', '0x0000000000000000', '"18446744073709551"'), // empty
        bind('0x0000000000020000', '0001000000000000000'),
        bind('0xfffffffffffe0000', '0x10000'),
        bind('0xffffffffffff0000', '0x10000'), // ends at 2^64: overflows, refused
        bind('0xfffffffffffff000', '0x1000'), // ends at 2^64 too
        bind('0xffffffff', '0x1', '"1"'),
        bind('4294967295', '4294967297'),
        '{"op":"unbind","vm":"big","addr":"0x0000000100000000","range":"18446744069414584320"}', // 2^64 too
        bind('9007199254740991', '9007199254740993'),
        '{"op":"unbind","vm":"big","addr":"0","range":"0xfffffffffffff000"}',
      ]
      const text = `${lines.join('\n')}\n`
      const options = { engine, keepGoing: true }
      const one = outcome(() => oneByOne(text, options))
      expect(one).toBe(outcome(() => stepped(text, options)))
      for (const size of [1, 3, 64]) expect(outcome(() => batched(text, options, size))).toBe(one)
      const { summary } = oneByOne(text, options)
      expect(summary.errors).toBeGreaterThanOrEqual(2)
      // The three ranges that end at 2^64, each refused with a warning in the seed's era.
      expect(summary.warnings).toBe(3)
      expect(summary.ops.map).toBeGreaterThan(5)
    })
  }

  it('a replay with onRecord sees every record: no runs', () => {
    const text = mixed(3, 300)
    const seen: number[] = []
    const r = new Replayer({ engine: 'native', keepGoing: true, onRecord: (rec) => seen.push(rec.request.line) })
    r.discardRecords(true)
    r.feedLines(split(text).map((t, i) => ({ text: t, line: i + 1, terminated: true })))
    r.finish()
    expect(batches).toBe(0)
    expect(seen.length).toBeGreaterThan(200)
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
  })
})
