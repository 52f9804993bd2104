// The replay's fast path for plain bind/unbind lines (lib/replay/fast-lines.ts):
// the request it reads is the one the schema reads, and a replay whose records
// are discarded (one call per line) ends as the same replay with its records
// read (step by step): summary, state hash, errors and their lines.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { replay } from '../lib/index.js'
import { checkRequest } from '../lib/replay/index.js'
import { plainBindLine } from '../lib/replay/fast-lines.js'

const root = path.resolve(__dirname, '..')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)

const general = (text: string, line: number) => checkRequest(JSON.parse(text), 'replay.jsonl', line)

describe('replay fast path: plain bind and unbind lines', () => {
  it('reads the request the schema reads, fields in the same order', () => {
    const lines = [
      '{"op":"bind","vm":"a","addr":"0x1000","range":"0x2000","obj":"bo1","offset":"0x0"}',
      '{"op":"bind","vm":"a","addr":"4096","range":"8192","obj":"bo1"}',
      '{"op":"bind","vm":"vm-1","addr":"0XABCDEF000","range":"0x1000"}',
      '{"op":"bind","vm":"a","addr":"0x1000","range":"0x1000","obj":null,"offset":"0x10"}',
      '{"op":"bind","vm":"a","addr":"0xffffffffffffffff","range":"18446744073709551","offset":"7"}',
      '{"op":"unbind","vm":"a~!{}[]","addr":"0x1000","range":"0x2000"}',
    ]
    lines.forEach((text, i) => {
      const fast = plainBindLine(text, i + 1)
      expect(fast).toEqual(general(text, i + 1))
      expect(Object.keys(fast!)).toEqual(Object.keys(general(text, i + 1)))
    })
  })

  it('leaves every other line to the general path', () => {
    for (const text of [
      ' {"op":"bind","vm":"a","addr":"0x1000","range":"0x1000"}',
      '{"op":"bind","addr":"0x1000","vm":"a","range":"0x1000"}',
      '{"op":"bind","vm":"a","addr":4096,"range":"0x1000"}',
      '{"op":"bind","vm":"a\\u0041","addr":"0x1000","range":"0x1000"}',
      '{"op":"bind","vm":"a","addr":"0x1000","range":"0x1000","exec":"e"}',
      '{"op":"unbind","vm":"a","addr":"0x1000","range":"0x1000","expectErrno":"EINVAL"}',
      '{"op":"bind","vm":"a","addr":"0x10000000000000000","range":"0x1000"}',
      '{"op":"bind","vm":"a","addr":"99999999999999999999","range":"0x1000"}',
      '{"op":"bind.array","vm":"a","ops":[]}',
      '{"op":"unpin","obj":"a"}',
      '',
    ])
      expect(plainBindLine(text, 1)).toBeUndefined()
  })

  for (const engine of ['native', 'reference'] as const) {
    it(`ends as the step-by-step replay: summary, state hash, errors and their lines (${engine})`, async () => {
      const text = randomLines()
      const fast = await replay(text, { engine, keepGoing: true })
      const stepped = await replay(text, { engine, keepGoing: true, onRecord: () => {} })
      expect(fast.summary).toEqual(stepped.summary)
      expect(fast.summary.errors).toBeGreaterThan(50)
      expect(fast.summary.ops.remap).toBeGreaterThan(0)
      expect(fast.errors.map((e) => [e.line, e.errno, e.message])).toEqual(
        stepped.errors.map((e) => [e.line, e.errno, e.message]),
      )
    })
  }

  it('drmsim replay --summary (one call a line) prints the summary and errors of the full output', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'drmsim-fast-lines-')), 'binds.jsonl')
    writeFileSync(file, randomLines())
    const run = (args: string[]) =>
      spawnSync(process.execPath, [bin, 'replay', '--keep-going', ...args, file], { encoding: 'utf8' })
    const summary = run(['--summary'])
    const full = run([])
    expect(summary.status).toBe(1)
    expect(full.status).toBe(1)
    expect(full.stdout.endsWith(summary.stdout)).toBe(true)
    expect(summary.stdout).toMatch(/state_fnv1a64 [0-9a-f]{16}/)
    expect(summary.stderr.split('\n').filter((l) => l.startsWith('drmsim:')).length).toBeGreaterThan(50)
  })
})

/** Random binds and unbinds over a few objects, with refused ones among them, as a replay's text. */
function randomLines(): string {
  let x = 12345
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    return x % n
  }
  const lines = [
    '{"op":"vm.create","vm":"a","range":"0x100000000","reserve":["0","0x1000"]}',
    '{"op":"obj.create","obj":"o1","size":"0x100000"}',
    '{"op":"obj.create","obj":"o2","size":"0x100000"}',
  ]
  for (let i = 0; i < 600; i++) {
    const addr = `0x${(rnd(256) * 0x1000).toString(16)}`
    const range = `0x${((1 + rnd(16)) * 0x1000).toString(16)}`
    switch (rnd(10)) {
      case 0:
        lines.push(`{"op":"bind","vm":"a","addr":"0x0","range":"0x1000","obj":"o1"}`) // the reserved node
        break
      case 1:
        lines.push(`{"op":"unbind","vm":"a","addr":"${addr}","range":"0x0"}`) // empty
        break
      case 2:
        lines.push(`{"op":"bind","vm":"a","addr":"0xfffff000","range":"${range}","obj":"o1"}`) // past the VA space
        break
      case 3:
        lines.push(`{"op":"bind","vm":"a","addr":"0xfffffffffffff000","range":"0x2000"}`) // overflows
        break
      case 4:
      case 5:
        lines.push(`{"op":"unbind","vm":"a","addr":"${addr}","range":"${range}"}`)
        break
      default:
        lines.push(
          `{"op":"bind","vm":"a","addr":"${addr}","range":"${range}","obj":"o${1 + rnd(2)}","offset":"0x${(rnd(8) * 0x1000).toString(16)}"}`,
        )
    }
  }
  return `${lines.join('\n')}\n`
}
