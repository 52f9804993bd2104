// Real clients' VM_BIND patterns (examples/clients/, from IGT xe_vm and panthor_vm): every file replays on
// both engines with every `expect` met and the summary its README lists; and the expectations themselves
// (lib/replay/expect.ts): an unmet `expect` or an unexpected outcome is a simulation error naming the line,
// the field and what differs, a request failing with the errno it expects is no error.
import Ajv2020 from 'ajv/dist/2020'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERRNO_NAMES } from '../lib/base/errors.js'
import { Recorder, ReplayError, type ReplayRecord, recordJson, replay, replayLineOf } from '../lib/replay/index.js'

const root = path.resolve(__dirname, '..')
const dir = path.join(root, 'examples', 'clients')
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.jsonl'))
  .sort()
const text = (f: string) => readFileSync(path.join(dir, f), 'utf8')
const requests = (t: string) => t.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'))
const ENGINES = ['native', 'reference'] as const

// The summaries examples/clients/README.md documents, mappings left per file (by hand from each file's expects).
const MAPPINGS: Record<string, number> = {
  'panthor-bind-errors.jsonl': 1,
  'panthor-hugepage-unbind.jsonl': 2,
  'panthor-sparse.jsonl': 16,
  'panthor-subset-superset.jsonl': 5,
  'xe-bind-array-conflict-error-inject.jsonl': 2,
  'xe-bind-array-conflict.jsonl': 2,
  'xe-bind-no-array-conflict.jsonl': 2,
  'xe-large-binds.jsonl': 0,
  'xe-mmap-style-bind-all.jsonl': 1,
  'xe-mmap-style-bind-either-side-full.jsonl': 3,
  'xe-mmap-style-bind-end.jsonl': 2,
  'xe-mmap-style-bind-front.jsonl': 2,
  'xe-mmap-style-bind-one-partial.jsonl': 3,
  'xe-munmap-style-unbind-either-side-full.jsonl': 3,
  'xe-munmap-style-unbind-either-side-partial.jsonl': 3,
  'xe-munmap-style-unbind-end.jsonl': 2,
  'xe-munmap-style-unbind-front.jsonl': 2,
  'xe-munmap-style-unbind-many-either-side-partial.jsonl': 3,
  'xe-munmap-style-unbind-many-front.jsonl': 2,
  'xe-munmap-style-unbind-one-partial.jsonl': 3,
  'xe-partial-unbinds.jsonl': 0,
  'xe-unbind-all-vmas.jsonl': 0,
}
/** drm_gpuvm's overflow warning, once per overflowing request. */
const WARNINGS: Record<string, number> = { 'panthor-bind-errors.jsonl': 2 }

async function run(t: string, options: Parameters<typeof replay>[1] = {}) {
  const records: ReplayRecord[] = []
  const result = await replay(t, { ...options, onRecord: (r) => records.push(r) })
  return { result, records }
}

describe('examples/clients', () => {
  it('lists every file, and every file names its IGT subtest in its header', () => {
    expect(files).toEqual(Object.keys(MAPPINGS).sort())
    for (const f of files) expect(text(f).split('\n')[0], f).toMatch(/^# IGT (xe_vm|panthor_vm)@/)
  })

  describe.each(ENGINES)('on the %s engine', (engine) => {
    it.each(files)('%s: every expect holds, the summary is the documented one', async (f) => {
      const { result, records } = await run(text(f), { engine, file: f })
      const checks = records.filter((r) => r.request.op === 'expect')
      expect(checks.length).toBeGreaterThan(0)
      for (const r of checks) expect(r.error, `line ${r.request.line}`).toBeUndefined()
      // Every request a test expects to fail did, with that errno.
      for (const r of records.filter((x) => x.request.expectErrno !== undefined))
        expect(r.result.errno, `line ${r.request.line}`).toBe(r.request.expectErrno)
      expect(result.summary).toMatchObject({
        errors: 0,
        violations: 0,
        warnings: WARNINGS[f] ?? 0,
        mappings: MAPPINGS[f],
      })
    })
  })

  it.each(files)('%s: both engines end in the same state', async (f) => {
    const [a, b] = await Promise.all(ENGINES.map((engine) => replay(text(f), { engine })))
    expect(a.summary.stateFnv1a64).toBe(b.summary.stateFnv1a64)
  })

  it('the files use expect and expectErrno, and the JSON Schema accepts every request', () => {
    const schema = JSON.parse(readFileSync(path.join(root, 'schema', 'replay.schema.json'), 'utf8'))
    const valid = new Ajv2020({ strict: false }).compile(schema)
    const lines = files.flatMap((f) => requests(text(f)))
    for (const l of lines) expect(valid(JSON.parse(l)), l).toBe(true)
    const ops = new Set(lines.map((l) => JSON.parse(l).op))
    expect([...ops].sort()).toEqual(['bind', 'bind.array', 'expect', 'obj.create', 'unbind', 'vm.create'])
    expect(lines.filter((l) => l.includes('"expectErrno":"EINVAL"')).length).toBe(3)
  })

  it.each(ENGINES)(
    'bind-array-conflict-error-inject: the injected failure is ENOSPC and undoes the whole array (%s)',
    async (engine) => {
      const f = 'xe-bind-array-conflict-error-inject.jsonl'
      const { records } = await run(text(f), { engine, file: f })
      const arrays = records.filter((r) => r.request.op === 'bind.array')
      expect(arrays.map((r) => [r.result.errno ?? null, r.error === undefined])).toEqual([
        ['ENOSPC', true],
        [null, true],
      ])
      // The expect right after the failed array finds bo2's mapping alone, as before it.
      const expects = records.filter((r) => r.request.op === 'expect')
      expect(expects[1].request.mappings).toEqual(expects[0].request.mappings)
    },
  )

  it('drmsim replay exits 0 on a file whose requests fail as expected, and its --json output replays', () => {
    const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
    const file = path.join(dir, 'panthor-bind-errors.jsonl')
    const r = spawnSync(process.execPath, [bin, 'replay', file], { encoding: 'utf8' })
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('req 2 bind kbo 0x800000000000 0x200000 kbo-bo 0x0 expect_errno=EINVAL\n')
    expect(r.stdout).toContain('bind kbo errno=EINVAL\n')
    expect(r.stdout).toContain('expect kbo mappings=0\n')
    expect(r.stdout).toMatch(/\nerrors 0\n/)
  })
})

const VM = '{"op":"vm.create","vm":"a","range":"0x1000000000000"}'
const BO = '{"op":"obj.create","obj":"bo","size":"0x10000"}'
const BIND = '{"op":"bind","vm":"a","addr":"0x100000","range":"0x3000","obj":"bo","offset":"0x1000"}'
const lines = (...l: string[]) => `${l.join('\n')}\n`

async function failure(t: string): Promise<ReplayError> {
  const err = await replay(t, { file: 'r.jsonl' }).then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ReplayError)
  return err as ReplayError
}

describe.each(ENGINES)('expect on the %s engine', (engine) => {
  const replayed = (t: string) => replay(t, { engine, file: 'r.jsonl' })

  it('checks the mappings in address order, their count and a free interval', async () => {
    const r = await replayed(
      lines(
        VM,
        BO,
        BIND,
        '{"op":"unbind","vm":"a","addr":"0x101000","range":"0x1000"}',
        '{"op":"bind","vm":"a","addr":"0x200000","range":"0x1000","obj":null}',
        '{"op":"expect","vm":"a","mappings":[["0x100000","0x1000","bo","0x1000"],["0x102000","0x1000","bo","0x3000"],["0x200000","0x1000",null,"0"]],"count":3,"free":["0x101000","0x1000"]}',
      ),
    )
    expect(r.summary).toMatchObject({ requests: 6, errors: 0 })
  })

  it.each([
    [
      'a mapping differs',
      '{"op":"expect","vm":"a","mappings":[["0x100000","0x3000","bo","0"]]}',
      'mappings',
      "expect: VA space 'a': mapping 0 is [0x100000, 0x3000, bo, 0x1000], expected [0x100000, 0x3000, bo, 0x0]",
    ],
    [
      'one mapping missing',
      '{"op":"expect","vm":"a","mappings":[]}',
      'mappings',
      "expect: VA space 'a': mapping 0 is [0x100000, 0x3000, bo, 0x1000], expected none (1 mappings, expected 0)",
    ],
    [
      'one mapping too many, expected sparse',
      '{"op":"expect","vm":"a","mappings":[["0x100000","0x3000","bo","0x1000"],["0x200000","0x1000",null,"0"]]}',
      'mappings',
      "expect: VA space 'a': mapping 1 is none, expected [0x200000, 0x1000, -, 0x0] (1 mappings, expected 2)",
    ],
    ['the count', '{"op":"expect","vm":"a","count":2}', 'count', "expect: VA space 'a': 1 mappings, expected 2"],
    [
      'an interval not free',
      '{"op":"expect","vm":"a","free":["0x102000","0x2000"]}',
      'free',
      "expect: VA space 'a': [0x102000, 0x104000) is not free: 1 node there, the first [0x100000, 0x3000, bo, 0x1000]",
    ],
    [
      'two checks, both named',
      '{"op":"expect","vm":"a","count":0,"free":["0x0","0x100001"]}',
      'count',
      "expect: VA space 'a': 1 mappings, expected 0; [0x0, 0x100001) is not free: 1 node there, the first [0x100000, 0x3000, bo, 0x1000]",
    ],
  ])(
    'an unmet expect is a simulation error naming the line, the field and the difference: %s',
    async (_, line, field, message) => {
      const err = await failure(lines(VM, BO, BIND, line))
      expect(err.kind).toBe('simulation')
      expect(err.errno).toBe('EINVAL')
      expect([err.line, err.field]).toEqual([4, field])
      expect(err.message).toBe(`r.jsonl:4: field "${field}": ${message}`)
    },
  )

  it('under keepGoing an unmet expect is counted and the replay goes on', async () => {
    const r = await replay(lines(VM, '{"op":"expect","vm":"a","count":1}', '{"op":"expect","vm":"a","count":0}'), {
      engine,
      keepGoing: true,
    })
    expect(r.summary.errors).toBe(1)
    expect(r.errors.map((e) => e.line)).toEqual([2])
  })

  it('the free interval counts the kernel node as taken, as drm_gpuva_interval_empty does', async () => {
    const vm = '{"op":"vm.create","vm":"a","range":"0x100000","reserve":["0","0x1000"]}'
    const err = await failure(lines(vm, '{"op":"expect","vm":"a","free":["0x0","0x2000"]}'))
    expect(err.message).toContain('is not free: 1 node there, the first the kernel node')
    const r = await replayed(lines(vm, '{"op":"expect","vm":"a","count":0,"free":["0x1000","0xff000"]}'))
    expect(r.summary.errors).toBe(0)
  })

  it('a request failing with the errno it expects is no error: the record says errno, the state is unchanged', async () => {
    const records: ReplayRecord[] = []
    const r = await replay(
      lines(VM, BO, BIND, '{"op":"bind","vm":"a","addr":"0xfffffffffffff000","range":"0x2000","expectErrno":"EINVAL"}'),
      { engine, onRecord: (x) => records.push(x) },
    )
    expect(r.summary).toMatchObject({ errors: 0, mappings: 1 })
    expect(records[3].result.errno).toBe('EINVAL')
    expect(records[3].error).toBeUndefined()
  })

  it('a request expecting an errno that succeeds, or fails otherwise, is a simulation error', async () => {
    const ok = await failure(lines(VM, BO, BIND.replace('}', ',"expectErrno":"ENOSPC"}')))
    expect([ok.kind, ok.line, ok.errno]).toEqual(['simulation', 3, 'EINVAL'])
    expect(ok.message).toBe(
      'r.jsonl:3: bind: EINVAL: expected to fail with ENOSPC, but it succeeded (the state changed as it asked)',
    )
    const other = await failure(
      lines(VM, '{"op":"bind","vm":"a","addr":"0xfffffffffffff000","range":"0x2000","expectErrno":"ENOSPC"}'),
    )
    expect([other.line, other.errno]).toEqual([2, 'EINVAL'])
    expect(other.message).toMatch(/^r\.jsonl:2: bind: EINVAL: expected ENOSPC, got EINVAL: /)
  })

  it('an unmet expect is never the failure a line expects', async () => {
    const err = await failure(lines(VM, '{"op":"expect","vm":"a","count":1,"expectErrno":"EINVAL"}'))
    expect(err.message).toBe('r.jsonl:2: field "count": expect: VA space \'a\': 0 mappings, expected 1')
  })

  it('the Recorder writes the mappings as they are, and the replay checks them there', async () => {
    const rec = new Recorder({ engine })
    const vm = rec.createVm({ name: 'a', range: 1n << 48n })
    const bo = rec.createObject({ name: 'bo', size: 0x10000n })
    rec.bind(vm, { addr: 0x100000n, range: 0x3000n, obj: bo, offset: 0x1000n })
    rec.unbind(vm, 0x101000n, 0x1000n)
    expect(rec.expect(vm)).toBe(2)
    expect(rec.text().trimEnd().split('\n').at(-1)).toBe(
      '{"op":"expect","vm":"a","mappings":[["0x100000","0x1000","bo","0x1000"],["0x102000","0x1000","bo","0x3000"]]}',
    )
    expect((await replay(rec.text(), { engine })).summary.errors).toBe(0)
  })

  it("a record's JSON is a line that replays: the expectations come back as written", async () => {
    const t = text('panthor-bind-errors.jsonl')
    const { records, result } = await run(t, { engine })
    const again = records.map((r, i) => replayLineOf(JSON.stringify(recordJson(r, i)))!)
    expect((await replay(again.join('\n'), { engine })).summary).toEqual(result.summary)
  })
})

describe('expect: malformed lines are format errors naming the field', () => {
  it.each([
    ['{"op":"expect","vm":"a"}', 'op', 'expect checks mappings, count or free: give at least one'],
    ['{"op":"expect","vm":"a","free":["0x1000","0"]}', 'free', 'the range is 0: an empty interval is always free'],
    ['{"op":"expect","vm":"a","free":["0xffffffffffffffff","0x2"]}', 'free', 'addr + range overflows u64'],
    ['{"op":"expect","vm":"a","free":["0x1000"]}', 'free', 'must be [addr, range] (two u64s), got ["0x1000"]'],
    [
      '{"op":"expect","vm":"a","mappings":[["0x1000","0x1000","bo"]]}',
      'mappings',
      'mapping 0: must be [addr, range, obj or null, offset], got ["0x1000","0x1000","bo"]',
    ],
    [
      '{"op":"expect","vm":"a","mappings":[["0x1000","-1","bo","0"]]}',
      'mappings',
      'mapping 0: range (item 1): must be a u64 (decimal or 0x hex string), got "-1"',
    ],
    [
      '{"op":"expect","vm":"a","mappings":[["0x1000","0x1000","b o","0"]]}',
      'mappings',
      'mapping 0: obj (item 2): must be a name (1 to 128 printable ASCII characters, no spaces), got "b o"',
    ],
    ['{"op":"expect","vm":"a","count":-1}', 'count', 'must be an integer in [0, 2^32 - 1], got -1'],
    [
      '{"op":"unbind","vm":"a","addr":"0","range":"0x1000","expectErrno":"EFAULT"}',
      'expectErrno',
      `must be one of ${ERRNO_NAMES.join(', ')}, got "EFAULT"`,
    ],
  ])('%s', async (line, field, message) => {
    const err = await failure(lines(VM, line))
    expect([err.kind, err.line, err.field]).toEqual(['format', 2, field])
    expect(err.message).toBe(`r.jsonl:2: field "${field}": ${message}`)
  })
})
