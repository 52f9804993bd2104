// drmsim diff: the first divergence between two files, a file and a vmbind run, or the two engines,
// named by request index (req N, from 0), line, and both lines; exit 1 on a divergence, 0 when they agree.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.resolve(__dirname, '..')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const golden = (name: string) => path.join(__dirname, 'golden', name)
const trace = golden('vmbind-seed1-ops2000.trace')
const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-cli-diff-'))

function drmsim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function file(name: string, text: string): string {
  const p = path.join(dir, name)
  writeFileSync(p, text)
  return p
}

const lines = readFileSync(trace, 'utf8').split('\n')
// The first remap of the golden trace, on line 138, in request 81: flip its keep flag.
const remapLine = lines.findIndex((l) => l.startsWith('op remap'))
const changed = file(
  'changed.trace',
  lines.map((l, i) => (i === remapLine ? l.replace('keep=0', 'keep=1') : l)).join('\n'),
)

describe('drmsim diff', () => {
  it('two files that agree: exit 0, lines and requests counted', () => {
    const r = drmsim('diff', trace, trace)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`identical: 3,482 lines, 2,000 requests (${trace} and ${trace})\n`)
  })

  it('two files that diverge: exit 1, the request, the line, both lines', () => {
    expect(remapLine + 1).toBe(138)
    const r = drmsim('diff', trace, changed)
    expect(r.code).toBe(1)
    const w = Math.max(trace.length, changed.length) + 1
    expect(r.stdout).toBe(
      [
        'first divergence: request 81, line 138',
        `  ${`${trace}:`.padEnd(w)} op remap 0x11c2f3000 0x40000 keep=0 prev=- next=0x11c307000,0x2c000,0x33c,0xf9000`,
        `  ${`${changed}:`.padEnd(w)} op remap 0x11c2f3000 0x40000 keep=1 prev=- next=0x11c307000,0x2c000,0x33c,0xf9000`,
        '',
      ].join('\n'),
    )
    const json = drmsim('diff', trace, changed, '--json')
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual({
      identical: false,
      req: 81,
      summary: false,
      line: 138,
      a: { name: trace, text: lines[remapLine] },
      b: { name: changed, text: lines[remapLine].replace('keep=0', 'keep=1') },
    })
  })

  it('a file that ends early: the line the other goes on with', () => {
    const short = file('short.trace', `${lines.slice(0, 100).join('\n')}\n`)
    const r = drmsim('diff', short, trace)
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n')[0]).toBe('first divergence: request 61, line 101')
    expect(r.stdout).toContain('(ends after 100 lines)')
    expect(r.stdout).toContain(`${lines[100]}\n`)
  })

  it('summaries that differ: the line in the summary', () => {
    const r = drmsim('diff', golden('vmbind-seed2-ops100000.summary'), golden('vmbind-seed1-ops100000.summary'))
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n')[0]).toBe('first divergence: the summary, line 2')
  })

  it('replay outputs, text or JSON Lines: requests by their index', () => {
    const example = path.join(root, 'examples/replay.jsonl')
    const text = drmsim('replay', example).stdout
    const other = file('other.txt', text.replace('validate color moved=1', 'validate color moved=0'))
    const r = drmsim('diff', file('replay.txt', text), other)
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n')[0]).toMatch(/^first divergence: request 12, line \d+$/)
    const json = drmsim('replay', example, '--json').stdout
    const j = drmsim(
      'diff',
      file('a.jsonl', json),
      file('b.jsonl', json.replace('"obj":"depth"', '"obj":"deep"')),
      '--json',
    )
    expect(j.code).toBe(1)
    expect(JSON.parse(j.stdout)).toMatchObject({ identical: false, req: 3, line: 4 })
  })

  it('a golden file and a run: the options its name encodes, or those given; trace or summary as the file holds', () => {
    for (const [f, engine] of [
      [trace, 'reference'],
      [golden('vmbind-seed9-w4096-l16-k4-p60-ops200000.summary'), 'native'],
    ]) {
      const r = drmsim('diff', f, '--engine', engine)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^identical: /)
    }
    const r = drmsim('diff', changed, '--seed', '1', '--ops', '2000', '--engine', 'reference')
    expect(r.code).toBe(1)
    expect(r.stdout.split('\n')[0]).toBe('first divergence: request 81, line 138')
    expect(r.stdout).toMatch(/\n {2}vmbind --seed 1 --ops 2000 \(reference\): +op remap 0x11c2f3000 0x40000 keep=0 /)
    // Other options than the file's: the summary's first line already differs.
    const other = drmsim('diff', golden('vmbind-seed2-ops100000.summary'), '--seed', '3', '--ops', '100000')
    expect(other.code).toBe(1)
    expect(other.stdout.split('\n')[0]).toBe('first divergence: the summary, line 2')
  })

  it('--engines: native and reference on the same options agree', () => {
    const r = drmsim('diff', '--engines', '--ops', '3000', '--seed', '7')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^identical: native and reference print the same summary for vmbind --seed 7 --ops 3000: trace_fnv1a64 [0-9a-f]{16}, state_fnv1a64 [0-9a-f]{16}\n$/,
    )
  })

  it('--engines FILE: a replay file on both engines agrees, request by request', () => {
    const example = path.join(root, 'examples/replay.jsonl')
    const r = drmsim('diff', '--engines', example)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      `identical: 65 lines, 29 requests (replay ${example} (native) and replay ${example} (reference))\n`,
    )
  })

  it.each([
    [['diff'], /diff needs a file/],
    [['diff', '/nonexistent/a.trace', trace], /cannot read \/nonexistent\/a\.trace: ENOENT/],
    [['diff', path.join(root, 'package.json')], /give the vmbind options of the run to compare/],
    [['diff', trace, trace, '--seed', '2'], /give one file with them/],
    [['diff', '--engines', trace, trace], /on vmbind options or on one replay file/],
    [['diff', '--engines', trace], /vmbind-seed1-ops2000\.trace:1: bad JSON/],
    [['diff', '--engines', '-'], /give a file, not stdin/],
    [['diff', '--engines', '--engine', 'native'], /give no --engine with it/],
    [['diff', '-', '-'], /only one side can be stdin/],
  ])('bad usage %j exits 2 in one line', (args, why) => {
    const r = drmsim(...args)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(why)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(r.stdout).toBe('')
  })
})
