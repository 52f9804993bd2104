// drmsim replay's output: `req N` is the request's index from 0 (as in vmbind --trace), JSON counts are
// numbers, and --json output replays: the same requests, the same steps, the same state.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { replay, replayLineOf } from '../lib/replay/index.js'

const root = path.resolve(__dirname, '..')
const example = path.join(root, 'examples/replay.jsonl')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-cli-replay-'))

function drmsim(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', input, maxBuffer: 1 << 26 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function file(name: string, text: string): string {
  const p = path.join(dir, name)
  writeFileSync(p, text)
  return p
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))

// Evicts 'a' from a 1 MiB VRAM to fit 'b'; an unbalanced unlock (a violation); a refused bind (an error).
const EVICT = [
  '{"op":"device","vram":"0x100000","gtt":"0x1000000"}',
  '# two buffers, one VRAM slot',
  '{"op":"vm.create","vm":"v","range":"0x1000000000000","reserve":["0","0x1000"]}',
  '{"op":"obj.create","obj":"a","size":"0x100000"}',
  '{"op":"obj.create","obj":"b","size":"0x100000"}',
  '',
  '{"op":"bind","vm":"v","addr":"0x100000","range":"0x200000","obj":"a"}',
  '{"op":"bind","vm":"v","addr":"0x180000","range":"0x1000","obj":"b","offset":"0x1000"}',
  '{"op":"lock","obj":"a"}',
  '{"op":"validate","obj":"a","placement":["vram"]}',
  '{"op":"unlock","obj":"a"}',
  '{"op":"lock","obj":"b"}',
  '{"op":"validate","obj":"b","placement":[{"domain":"vram","desired":true},{"domain":"gtt","fallback":true}]}',
  '{"op":"validate","obj":"b","placement":["vram"]}',
  '{"op":"unlock","obj":"b"}',
  '{"op":"unlock","obj":"b"}',
  '{"op":"bind","vm":"v","addr":"0","range":"0x1000","obj":"a"}',
  '{"op":"unbind","vm":"v","addr":"0x100000","range":"0x80000"}',
].join('\n')

describe('req N is the request index, from 0', () => {
  it('text output numbers the requests, not the lines (the example: bind on line 10 is request 5)', () => {
    const r = drmsim(['replay', example])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('req 5 bind ctx 0x100000 0x400000 color 0x0\nop map 0x100000 0x400000 color 0x0\n')
    const reqs = r.stdout.split('\n').filter((l) => l.startsWith('req '))
    expect(reqs.map((l) => Number(l.split(' ')[1]))).toEqual([...Array(29).keys()])
  })

  it('--json carries both: req (the index) and line (the input line); errors name file:line', () => {
    const p = file('evict.jsonl', `${EVICT}\n`)
    const r = drmsim(['replay', p, '--json', '--keep-going'])
    expect(r.code).toBe(1)
    const out = jsonLines(r.stdout)
    expect(out.slice(0, -1).map((o) => [o.req, o.line])).toEqual(
      [1, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18].map((line, req) => [req, line]),
    )
    expect(out[14]).toMatchObject({ req: 14, line: 17, op: 'bind', error: { kind: 'simulation', line: 17 } })
    expect(out[14].error.message).toMatch(/^evict\.jsonl:17: bind: EINVAL: /)
  })
})

describe('JSON counts are numbers', () => {
  it('evictions in a result and in the summary; bytes moved stay 0x hex strings like other u64 sizes', () => {
    const r = drmsim(['replay', file('evict2.jsonl', `${EVICT}\n`), '--json', '--keep-going'])
    const out = jsonLines(r.stdout)
    expect(out[11].result).toEqual({
      moved: true,
      bytesMoved: '0x200000',
      evictions: 1,
      domain: 'vram',
      offset: '0x0',
    })
    expect(out.at(-1).summary).toMatchObject({ evictions: 1, bytesMoved: '0x400000', errors: 1, violations: 1 })
  })
})

describe('--json output replays', () => {
  it.each([
    ['the example', example, []],
    ['evictions, a violation and an error under --keep-going', 'evict', ['--keep-going']],
  ] as const)('%s: the same requests, steps and summary, on both engines', (_, input, flags) => {
    const src = input === 'evict' ? file('evict3.jsonl', `${EVICT}\n`) : input
    for (const engine of ['native', 'reference']) {
      const args = ['--engine', engine, ...flags]
      const first = drmsim(['replay', src, '--json', ...args])
      const out = file(`out-${engine}.jsonl`, first.stdout)
      const again = drmsim(['replay', out, '--json', ...args])
      expect(again.code).toBe(first.code)
      // Records differ only in the input line they name (and so in their error's message).
      const strip = ({ line: _, ...o }: Record<string, unknown>) =>
        o.error ? { ...o, error: { ...(o.error as object), line: 0, file: '', message: '' } } : o
      const [a, b] = [first, again].map((r) => jsonLines(r.stdout).map(strip))
      expect(b).toEqual(a)
      // As text too: the same lines, request numbers included (an error line names its file:line).
      const [ta, tb] = [src, out].map((f) => drmsim(['replay', f, ...args]).stdout.replace(/^error \S+:\d+:/m, 'error'))
      expect(tb).toBe(ta)
    }
  })

  it('from stdin, and through the API with replayLineOf', async () => {
    const json = drmsim(['replay', example, '--json']).stdout
    const r = drmsim(['replay', '-', '--summary'], json)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(drmsim(['replay', example, '--summary']).stdout)
    const lines = json
      .trimEnd()
      .split('\n')
      .map(replayLineOf)
      .filter((l) => l !== null)
    const api = await replay(lines)
    expect(api.summary.stateFnv1a64).toBe('0bbf94ae4091c22c')
  })

  it('replayLineOf takes off only what --json added, and leaves hand-written lines alone', () => {
    expect(
      replayLineOf(
        '{"req":5,"line":10,"op":"bind","vm":"ctx","addr":"0x100000","range":"0x400000","obj":"color","offset":"0x0","steps":[{"kind":"map"}],"warnings":[],"violations":[],"result":{},"error":{}}',
      ),
    ).toBe('{"op":"bind","vm":"ctx","addr":"0x100000","range":"0x400000","obj":"color","offset":"0x0"}')
    expect(replayLineOf('{"summary":{"requests":1}}')).toBeNull()
    expect(replayLineOf('{"error":{"kind":"format"}}')).toBeNull()
    // Not --json output: returned as they are, so the replay judges them (an unknown field stays an error).
    for (const line of ['{"op":"unlock","obj":"a","line":3}', '# a comment', '', '{"req":1,', '{"summary":3}'])
      expect(replayLineOf(line)).toBe(line)
  })

  it('a hand-written line with an output field is still refused, naming it', () => {
    const r = drmsim(['replay', file('hand.jsonl', '{"op":"obj.create","obj":"a","size":"0x1000","steps":[]}\n')])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^drmsim: hand\.jsonl:1: field "steps": unknown field for "obj.create"/)
  })
})
