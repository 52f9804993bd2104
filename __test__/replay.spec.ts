// drmsim replay: the JSON Lines format, its errors (line and field), limits, and the CLI.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { DrmError, REPLAY_OPS, replay, replayFile, ReplayError, recordLines, type ReplayRecord } from '../lib/index.js'
import { HUB_OPS, QUEUE_OPS, splitLines } from '../lib/replay/index.js'

const root = path.resolve(__dirname, '..')
const example = path.join(root, 'examples/replay.jsonl')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-replay-'))

function file(name: string, text: string): string {
  const p = path.join(dir, name)
  writeFileSync(p, text)
  return p
}

function drmsim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const VM = '{"op":"vm.create","vm":"a","range":"0x1000000000000","reserve":["0","0x1000"]}'
const BO = '{"op":"obj.create","obj":"bo1","size":"0x100000"}'
const lines = (...l: string[]) => `${l.join('\n')}\n`

async function formatError(text: string): Promise<ReplayError> {
  const err = await replay(text, { file: 'replay.jsonl' }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ReplayError)
  const e = err as ReplayError
  expect(e).toBeInstanceOf(DrmError)
  expect(e.kind).toBe('format')
  expect(e.errno).toBe('EINVAL')
  return e
}

describe('replay: the example file', () => {
  it.each(['native', 'reference'] as const)('replays on the %s engine with the same ops and state', async (engine) => {
    const records: ReplayRecord[] = []
    const r = await replayFile(example, { engine, onRecord: (rec) => records.push(rec) })
    expect(r.summary).toMatchObject({
      requests: 29,
      vms: 1,
      objects: 3,
      ops: { map: 5, remap: 3, unmap: 1 },
      mappings: 7,
      errors: 0,
      violations: 0,
    })
    expect(r.summary.stateFnv1a64).toBe('0bbf94ae4091c22c')
    const text = records.flatMap(recordLines).join('\n')
    // req N: the request's index from 0 (this bind is on line 13, the 9th request).
    expect(text).toContain('req 8 bind ctx 0x200000 0x1000 color 0x100000')
    expect(text).toContain(
      'op remap 0x100000 0x400000 keep=1 prev=0x100000,0x100000,color,0x0 next=0x201000,0x2ff000,color,0x101000',
    )
    expect(text).toContain('validate color moved=1 bytes_moved=0x400000 evictions=0 domain=vram offset=0x0')
    expect(r.objects.get('color')!.pinCount).toBe(1)
    expect(r.objects.has('staging')).toBe(false)
  })

  it('uses the ops the README says it uses, and no other', () => {
    const used = new Set(
      readFileSync(example, 'utf8')
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l).op as string),
    )
    // "`examples/replay.jsonl` uses every op but `a` and `b`:" in the README.
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8')
    const claim = /`examples\/replay\.jsonl` uses every op but ((?:`[\w.]+`(?:, | and )?)+)/.exec(readme)
    expect(claim, 'the README names the ops the example leaves out').not.toBeNull()
    const unused = [...claim![1].matchAll(/`([\w.]+)`/g)].map((m) => m[1])
    // The hub ops are examples/gpuvm-hub.jsonl's (__test__/replay-hub.spec.ts), expect examples/clients/'
    // (clients.spec.ts), bind.array __test__/bind-array.spec.ts's.
    expect([...used].sort()).toEqual(
      Object.keys(REPLAY_OPS)
        .filter(
          (op) =>
            !unused.includes(op) &&
            !(HUB_OPS as readonly string[]).includes(op) &&
            op !== 'expect' &&
            op !== 'bind.array' &&
            !QUEUE_OPS.includes(op), // examples/bind-queues.jsonl's (replay-queue.spec.ts)
        )
        .sort(),
    )
  })

  it('replays from the API: a string, an array of lines, an async iterable', async () => {
    const text = readFileSync(example, 'utf8')
    const a = await replay(text)
    const b = await replay(text.split('\n'))
    const c = await replay(Readable.from(text.split('\n')))
    expect(b.summary).toEqual(a.summary)
    expect(c.summary).toEqual(a.summary)
  })
})

describe('replay: malformed input names the line and the field', () => {
  it.each([
    ['bad JSON', lines(VM, '{"op":"vm.create",'), 2, undefined, /bad JSON/],
    ['not an object', lines(VM, '[1,2]'), 2, undefined, /must be a JSON object/],
    ['missing op', lines('{"vm":"a"}'), 1, 'op', /missing/],
    ['unknown op', lines(VM, '{"op":"frobnicate"}'), 2, 'op', /unknown op "frobnicate"/],
    ['op not a string', lines('{"op":5}'), 1, 'op', /must be a string/],
    ['missing field', lines(VM, '{"op":"bind","vm":"a","range":"0x1000"}'), 2, 'addr', /missing/],
    [
      'unknown field',
      lines(VM, '{"op":"bind","vm":"a","adr":"0","addr":"0","range":"0x1000"}'),
      2,
      'adr',
      /unknown field/,
    ],
    [
      'wrong type',
      lines(VM, '{"op":"bind","vm":"a","addr":true,"range":"0x1000"}'),
      2,
      'addr',
      /must be a u64 .*got true/,
    ],
    [
      'negative number',
      lines(VM, '{"op":"bind","vm":"a","addr":-5,"range":"0x1000"}'),
      2,
      'addr',
      /must be a u64 \(decimal or 0x hex string\), got -5/,
    ],
    ['negative string', lines(VM, '{"op":"bind","vm":"a","addr":"-5","range":"0x1000"}'), 2, 'addr', /got "-5"/],
    ['fraction', lines(VM, '{"op":"bind","vm":"a","addr":1.5,"range":"0x1000"}'), 2, 'addr', /got 1\.5/],
    [
      'over u64',
      lines(VM, '{"op":"bind","vm":"a","addr":"0x10000000000000000","range":"0x1000"}'),
      2,
      'addr',
      /2\^64 or more/,
    ],
    [
      'over u64 decimal',
      lines(VM, '{"op":"bind","vm":"a","addr":"18446744073709551616","range":"0x1000"}'),
      2,
      'addr',
      /2\^64 or more/,
    ],
    [
      'imprecise number',
      lines(VM, '{"op":"bind","vm":"a","addr":18446744073709551615,"range":"0x1000"}'),
      2,
      'addr',
      /above 2\^53/,
    ],
    [
      'bad reserve',
      lines('{"op":"vm.create","vm":"a","range":"0x1000","reserve":["0"]}'),
      1,
      'reserve',
      /\[offset, range\]/,
    ],
    ['bad name', lines('{"op":"vm.create","vm":"a b","range":"0x1000"}'), 1, 'vm', /must be a name/],
    ['empty name', lines('{"op":"obj.create","obj":"","size":"1"}'), 1, 'obj', /must be a name/],
    ['bad domain', lines(BO, '{"op":"pin","obj":"bo1","domain":"hbm"}'), 2, 'domain', /must be one of/],
    ['bad placement', lines(BO, '{"op":"validate","obj":"bo1","placement":"vram"}'), 2, 'placement', /array of places/],
    [
      'bad place',
      lines(BO, '{"op":"validate","obj":"bo1","placement":[{"domain":"vram","urgent":true}]}'),
      2,
      'placement',
      /place 0: unknown key/,
    ],
    ['unknown vm', lines('{"op":"bind","vm":"nope","addr":"0","range":"0x1000"}'), 1, 'vm', /unknown vm "nope"/],
    [
      'unknown obj',
      lines(VM, '{"op":"bind","vm":"a","addr":"0x100000","range":"0x1000","obj":"bo9"}'),
      2,
      'obj',
      /unknown obj "bo9"/,
    ],
    ['unknown resv', lines('{"op":"obj.create","obj":"b","size":"1","resv":"x"}'), 1, 'resv', /unknown obj "x"/],
    ['unknown ctx', lines(BO, '{"op":"lock","obj":"bo1","ctx":"t"}'), 2, 'ctx', /unknown ctx "t"/],
    [
      'use after destroy',
      lines(VM, '{"op":"vm.destroy","vm":"a"}', '{"op":"unbind","vm":"a","addr":"0","range":"0x1000"}'),
      3,
      'vm',
      /unknown vm "a"/,
    ],
    ['duplicate vm', lines(VM, VM), 2, 'vm', /duplicate vm name "a" \(created at line 1/],
    ['duplicate obj', lines(BO, '', BO), 3, 'obj', /duplicate obj name "bo1"/],
    ['device not first', lines(VM, '{"op":"device","vram":"0x1000"}'), 2, 'op', /must be the first request/],
    ['truncated last line', `${VM}\n{"op":"bind","vm":"a","ad`, 2, undefined, /truncated last line/],
    ['empty file', '', 1, undefined, /empty file/],
    // Deep nesting is refused before anything recurses through it (it overflowed the stack).
    [
      'nested 30,000 deep',
      lines(VM, '['.repeat(30000) + ']'.repeat(30000)),
      2,
      undefined,
      /bad JSON: nested more than 64 deep/,
    ],
    [
      'a field nested 30,000 deep',
      lines(VM, `{"op":"bind","vm":"a","addr":${'['.repeat(30000)}${']'.repeat(30000)},"range":"0x1000"}`),
      2,
      undefined,
      /nested more than 64 deep/,
    ],
    ['an unclosed nest', lines(VM, `{"op":${'['.repeat(30000)}`), 2, undefined, /nested more than 64 deep/],
    // 64 deep is parsed and checked as usual; brackets inside strings do not nest.
    [
      'a field nested 64 deep',
      lines(VM, `{"op":"bind","vm":"a","addr":${'['.repeat(63)}${']'.repeat(63)},"range":"0x1000"}`),
      2,
      'addr',
      /must be a u64 .*got \[\[\[/,
    ],
    [
      'brackets in a string',
      lines(VM, `{"op":"vm.create","vm":"${'[{'.repeat(100)}","range":"0x1000"}`),
      2,
      'vm',
      /must be a name/,
    ],
    ['only comments', '# nothing\n\n', 2, undefined, /no requests/],
  ])('%s', async (_name, text, line, field, message) => {
    const e = await formatError(text)
    expect(e.line).toBe(line)
    expect(e.field).toBe(field)
    expect(e.message).toMatch(message)
    expect(e.message.startsWith(`replay.jsonl:${line}:${field ? ` field "${field}":` : ''}`)).toBe(true)
  })

  it('a line over the limit fails without being read whole', async () => {
    const huge = file('long.jsonl', `${VM}\n{"op":"vm.create","vm":"${'x'.repeat(10 << 20)}"}\n`)
    const err = await replayFile(huge, { maxLineBytes: 64 * 1024 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ReplayError)
    expect((err as ReplayError).line).toBe(2)
    expect((err as ReplayError).message).toMatch(/long\.jsonl:2: line longer than 65536 bytes/)
  })

  it('the line splitter never buffers more than the limit', async () => {
    let yielded = 0
    async function* chunks() {
      for (let i = 0; i < 1000; i++) {
        yielded++
        yield Buffer.alloc(1024, 0x61)
      }
    }
    const err = await (async () => {
      for await (const _ of splitLines(chunks(), 4096)) void _
    })().catch((e: unknown) => e)
    expect((err as ReplayError).message).toMatch(/:1: line longer than 4096 bytes/)
    expect(yielded).toBeLessThan(10)
  })

  it('the number of live handles is capped', async () => {
    const text = lines(...Array.from({ length: 5 }, (_, i) => `{"op":"obj.create","obj":"o${i}","size":"0x1000"}`))
    const err = await replay(text, { maxHandles: 4 }).catch((e: unknown) => e)
    expect((err as ReplayError).line).toBe(5)
    expect((err as ReplayError).field).toBe('obj')
    expect((err as ReplayError).message).toMatch(/too many live handles/)
    // Destroying frees a slot.
    const ok = lines(
      ...Array.from(
        { length: 8 },
        () => `{"op":"obj.create","obj":"o","size":"0x1000"}\n{"op":"obj.destroy","obj":"o"}`,
      ).slice(0, 8),
    )
    expect((await replay(ok, { maxHandles: 1 })).summary.objects).toBe(8)
  })
})

describe('replay: simulation errors', () => {
  const overlap = lines(
    VM,
    BO,
    '{"op":"bind","vm":"a","addr":"0","range":"0x2000","obj":"bo1"}',
    '{"op":"bind","vm":"a","addr":"0x100000","range":"0x1000","obj":"bo1"}',
  )

  it('stop the replay with the errno and the line', async () => {
    const err = await replay(overlap).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ReplayError)
    expect((err as ReplayError).kind).toBe('simulation')
    expect((err as ReplayError).errno).toBe('EINVAL')
    expect((err as ReplayError).line).toBe(3)
    expect((err as ReplayError).message).toMatch(/^replay\.jsonl:3: bind: EINVAL: /)
  })

  it('are recorded and skipped with keepGoing', async () => {
    const r = await replay(overlap, { keepGoing: true })
    expect(r.summary.errors).toBe(1)
    expect(r.summary.ops.map).toBe(1)
    expect(r.errors[0].line).toBe(3)
  })

  it('an unbalanced unlock is recorded as a violation naming the object, not a crash', async () => {
    const records: ReplayRecord[] = []
    const r = await replay(lines(BO, '{"op":"unlock","obj":"bo1"}'), { onRecord: (rec) => records.push(rec) })
    expect(r.summary.violations).toBe(1)
    expect(records[1].violations).toHaveLength(1)
    expect(recordLines(records[1], 1).join('\n')).toMatch(/^req 1 unlock bo1\nviolation /)
  })
})

describe('drmsim replay', () => {
  it('prints every request and its ops, then the summary', () => {
    const r = drmsim('replay', example)
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toContain('req 5 bind ctx 0x100000 0x400000 color 0x0\nop map 0x100000 0x400000 color 0x0\n')
    expect(r.stdout).toMatch(/\nrequests 29\n[\s\S]*state_fnv1a64 0bbf94ae4091c22c\n$/)
  })

  it('--summary prints the summary only', () => {
    const r = drmsim('replay', example, '--summary')
    expect(r.code).toBe(0)
    expect(r.stdout.startsWith('requests 29\nvms 1\nobjects 3\nops map=5 remap=3 unmap=1\nmappings 7\n')).toBe(true)
  })

  it('--json prints JSON Lines, u64 values as hex strings', () => {
    const r = drmsim('replay', example, '--json')
    expect(r.code).toBe(0)
    const out = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(out).toHaveLength(30)
    expect(out[5]).toMatchObject({
      op: 'bind',
      line: 10,
      vm: 'ctx',
      addr: '0x100000',
      steps: [{ kind: 'map', addr: '0x100000', obj: 'color' }],
    })
    expect(out[29].summary).toMatchObject({
      requests: 29,
      mappings: 7,
      bytesMoved: '0x700000',
      stateFnv1a64: '0bbf94ae4091c22c',
    })
  })

  it('a malformed file exits 2 naming the line and the field', () => {
    const p = file('bad.jsonl', lines(VM, '{"op":"bind","vm":"a","addr":-5,"range":"0x1000"}'))
    const r = drmsim('replay', p)
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('drmsim: bad.jsonl:2: field "addr": must be a u64 (decimal or 0x hex string), got -5\n')
  })

  it('a simulation error exits 1; --keep-going goes on and still exits 1; --json reports it', () => {
    const p = file(
      'sim.jsonl',
      lines(
        VM,
        BO,
        '{"op":"bind","vm":"a","addr":"0","range":"0x1000","obj":"bo1"}',
        '{"op":"bind","vm":"a","addr":"0x100000","range":"0x1000","obj":"bo1"}',
      ),
    )
    const stop = drmsim('replay', p)
    expect(stop.code).toBe(1)
    expect(stop.stderr).toMatch(/^drmsim: sim\.jsonl:3: bind: EINVAL: /)
    expect(stop.stdout).not.toContain('req 3')
    const go = drmsim('replay', p, '--keep-going')
    expect(go.code).toBe(1)
    expect(go.stdout).toContain('req 3 bind')
    expect(go.stdout).toContain('errors 1\n')
    const json = drmsim('replay', p, '--json')
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!).error).toMatchObject({
      kind: 'simulation',
      errno: 'EINVAL',
      line: 3,
    })
  })

  it.each([
    [['replay'], /missing required argument/],
    [['replay', '/nonexistent/x.jsonl'], /cannot read/],
    [['replay', example, '--max-line-bytes', '0'], /--max-line-bytes/],
    [['replay', example, '--engine', 'gpu'], /--engine/],
  ])('bad usage %j exits 2', (args, why) => {
    const r = drmsim(...args)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(why)
  })

  it('a line nested 30,000 deep exits 2 with a format error, not a stack overflow', () => {
    const r = drmsim('replay', file('deep.jsonl', lines(VM, `{"op":${'['.repeat(30000)}${']'.repeat(30000)}}`)))
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('drmsim: deep.jsonl:2: bad JSON: nested more than 64 deep\n')
  })

  it('an empty file exits 2', () => {
    const r = drmsim('replay', file('empty.jsonl', ''))
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/empty\.jsonl:1: empty file/)
  })

  it('reads stdin for -', () => {
    const r = spawnSync(process.execPath, [bin, 'replay', '-', '--summary'], {
      input: readFileSync(example),
      encoding: 'utf8',
    })
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('requests 29\n')
  })

  it('--svg writes a picture', () => {
    const out = path.join(dir, 'replay.svg')
    const r = drmsim('replay', example, '--summary', '--svg', out)
    expect(r.code).toBe(0)
    const svg = readFileSync(out, 'utf8')
    expect(svg).toMatch(/^<svg /)
    expect(svg).toContain('VA space &#39;ctx&#39;')
    expect(svg).toContain('VRAM')
  })

  it('--svg to a path that cannot be written: the summary, then one line naming the path and errno, exit 2', () => {
    for (const [target, why] of [
      ['/nonexistent/dir/x.svg', 'ENOENT (no such file or directory)'],
      [dir, 'EISDIR (illegal operation on a directory)'],
    ]) {
      const r = drmsim('replay', example, '--summary', '--svg', target)
      expect(r.code).toBe(2)
      expect(r.stdout).toMatch(/^requests 29\n[\s\S]*state_fnv1a64 0bbf94ae4091c22c\n$/)
      expect(r.stderr).toBe(`drmsim: --svg: cannot write ${target}: ${why}\n`)
    }
  })

  it('--help on every command, exit codes in the epilogue, no progress bar when stderr is not a terminal', () => {
    for (const args of [['--help'], ['replay', '--help'], ['vmbind', '--help']]) {
      const r = drmsim(...args)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/Exit codes:\n {2}0 {2}success\n {2}1 {2}the simulation failed/)
    }
    const r = drmsim('vmbind', '--ops', '100000', '--engine', 'reference')
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
  })
})
