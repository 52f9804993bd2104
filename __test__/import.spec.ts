// The trace importers (lib/import/, `drmsim import anv|nvk`): Mesa ANV's INTEL_DEBUG=sparse and NVK's
// NVK_DEBUG=vm lines become a replay file, exactly as written here by hand; other lines are counted and
// ignored, malformed ones refused naming their line; the imported file replays to the state worked out by hand.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ANV_VA_RANGE, parseAnv } from '../lib/import/anv.js'
import { NVK_VA_RANGE, parseNvk } from '../lib/import/nvk.js'
import { TraceError, traceToReplay } from '../lib/import/trace.js'
import { replay } from '../lib/replay/index.js'

const root = path.resolve(__dirname, '..')
const fixtures = path.join(root, '__test__', 'fixtures', 'import')
const anvFile = path.join(fixtures, 'anv-sparse.txt')
const nvkFile = path.join(fixtures, 'nvk-vm.txt')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-import-'))

function drmsim(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', input })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const ANV_REPLAY = `# drmsim import anv anv-sparse.txt: 7 binds and unbinds from 16 lines (9 other lines ignored)
# each object is sized to the largest extent the trace binds of it (offset + range)
{"op":"vm.create","vm":"anv","range":"0x1000000000000"}
{"op":"obj.create","obj":"bo12","size":"0x30000"}
{"op":"obj.create","obj":"bo13","size":"0x200000"}
{"op":"bind","vm":"anv","addr":"0x100000000","range":"0x400000","obj":null}
{"op":"bind","vm":"anv","addr":"0x100000000","range":"0x10000","obj":"bo12","offset":"0x0"}
{"op":"bind","vm":"anv","addr":"0x100020000","range":"0x20000","obj":"bo12","offset":"0x10000"}
{"op":"bind","vm":"anv","addr":"0x100020000","range":"0x10000","obj":null}
{"op":"bind","vm":"anv","addr":"0x100400000","range":"0x200000","obj":null}
{"op":"bind","vm":"anv","addr":"0x100400000","range":"0x200000","obj":"bo13","offset":"0x0"}
{"op":"unbind","vm":"anv","addr":"0x100000000","range":"0x400000"}
`

const NVK_REPLAY = `# drmsim import nvk nvk-vm.txt: 5 binds and unbinds from 9 lines (2 other lines ignored, 2 that map nothing dropped)
# each object is sized to the largest extent the trace binds of it (offset + range)
{"op":"vm.create","vm":"nvk","range":"0x800000000000"}
{"op":"obj.create","obj":"mem5","size":"0x400000"}
{"op":"obj.create","obj":"mem7","size":"0x40000"}
{"op":"bind","vm":"nvk","addr":"0x2000000","range":"0x400000","obj":"mem5","offset":"0x0"}
{"op":"bind","vm":"nvk","addr":"0x10000000","range":"0x10000","obj":"mem7","offset":"0x0"}
{"op":"bind","vm":"nvk","addr":"0x10100000","range":"0x20000","obj":"mem7","offset":"0x20000"}
{"op":"unbind","vm":"nvk","addr":"0x10000000","range":"0x10000"}
{"op":"unbind","vm":"nvk","addr":"0x2000000","range":"0x400000"}
`

function refusal(parse: (t: string, f: string) => unknown, text: string): TraceError {
  try {
    parse(text, 't.txt')
  } catch (err) {
    expect(err).toBeInstanceOf(TraceError)
    return err as TraceError
  }
  throw new Error(`accepted: ${text}`)
}

describe('ANV INTEL_DEBUG=sparse', () => {
  it('the fixture becomes this replay: NULL binds sparse, BOs by handle, sized to their largest extent', () => {
    const t = parseAnv(readFileSync(anvFile, 'utf8'), 'anv-sparse.txt')
    expect([t.events.length, t.ignored, t.dropped, t.lines]).toEqual([7, 9, 0, 16])
    expect(t.events.map((e) => e.line)).toEqual([8, 9, 10, 11, 13, 14, 16])
    expect(traceToReplay(t, { source: 'anv anv-sparse.txt', vm: 'anv', range: ANV_VA_RANGE })).toBe(ANV_REPLAY)
  })

  it.each([
    [
      '[ bind ] bo:12 address:0000000100000000 size:00010000',
      1,
      'malformed ANV bind line: expected "[ bind ]|[unbind] bo:NNNN|---- address:HEX size:HEX mem_offset:HEX", got "[ bind ] bo:12 address:0000000100000000 size:00010000"',
    ],
    [
      '[unbind] bo:abc address:0 size:1000 mem_offset:0',
      1,
      'malformed ANV bind line: expected "[ bind ]|[unbind] bo:NNNN|---- address:HEX size:HEX mem_offset:HEX", got "[unbind] bo:abc address:0 size:1000 mem_offset:0"',
    ],
    ['x\n[ bind ] bo:0001 address:zz size:1000 mem_offset:0', 2, 'address: not a u64 in hex: "zz"'],
    [
      '[ bind ] bo:0001 address:0 size:10000000000000000 mem_offset:0',
      1,
      'size: not a u64 in hex: "10000000000000000"',
    ],
  ])('refuses %j at line %i', (text, line, message) => {
    const err = refusal(parseAnv, text)
    expect([err.errno, err.line]).toEqual(['EINVAL', line])
    expect(err.message).toBe(`t.txt:${line}: ${message}`)
  })
})

describe('NVK NVK_DEBUG=vm', () => {
  it('the fixture becomes this replay: free va unbinds, alloc va maps nothing', () => {
    const t = parseNvk(readFileSync(nvkFile, 'utf8'), 'nvk-vm.txt')
    expect([t.events.length, t.ignored, t.dropped, t.lines]).toEqual([5, 2, 2, 9])
    expect(traceToReplay(t, { source: 'nvk nvk-vm.txt', vm: 'nvk', range: NVK_VA_RANGE })).toBe(NVK_REPLAY)
  })

  it.each([
    [
      'bind vma mem<0x5>[0x0, 0x1000) to [0x2000, 0x3000',
      1,
      'malformed NVK bind vma line: expected "bind vma mem<0xHANDLE>[0xSTART, 0xEND) to [0xSTART, 0xEND)", got "bind vma mem<0x5>[0x0, 0x1000) to [0x2000, 0x3000"',
    ],
    [
      'bind vma mem<0x5>[0x0, 0x1000) to [0x2000, 0x4000)',
      1,
      'the mem range (0x1000 bytes) and the VA range (0x2000) differ',
    ],
    ['ok\nunbind vma [0x3000, 0x2000)', 2, 'VA range [0x3000, 0x2000) ends before it starts'],
    [
      'free va [0x1000, 0x2000) dense',
      1,
      'malformed NVK free va line: expected "free va [0xSTART, 0xEND)" (then " sparse" or nothing), got "free va [0x1000, 0x2000) dense"',
    ],
    ['alloc va [0xq, 0x2000)', 1, 'VA range start: not a u64 in hex: "0xq"'],
  ])('refuses %j at line %i', (text, line, message) => {
    const err = refusal(parseNvk, text)
    expect([err.errno, err.line]).toEqual(['EINVAL', line])
    expect(err.message).toBe(`t.txt:${line}: ${message}`)
  })
})

describe('drmsim import', () => {
  it.each([
    ['anv', anvFile, ANV_REPLAY, [['0x100400000', '0x200000', 'bo13', '0x0']]],
    ['nvk', nvkFile, NVK_REPLAY, [['0x10100000', '0x20000', 'mem7', '0x20000']]],
  ])(
    '%s: writes the replay, which replays on both engines to the state worked out by hand',
    async (format, file, text, left) => {
      const r = drmsim(['import', format, file])
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(text)
      expect(r.stderr).toMatch(new RegExp(`^drmsim import ${format}: \\d+ binds and unbinds from \\d+ lines`))
      for (const engine of ['native', 'reference'] as const) {
        const res = await replay(r.stdout, { engine })
        expect(res.summary).toMatchObject({ errors: 0, mappings: left.length })
        const vm = [...res.vms.values()][0]
        expect(
          [...vm.vas()].map((va) =>
            [va.addr, va.range, va.obj && res.nameOf(va.obj), va.offset].map((x) =>
              typeof x === 'bigint' ? `0x${x.toString(16)}` : x,
            ),
          ),
        ).toEqual(left)
      }
    },
  )

  it('-o writes a file that drmsim replay runs; stdin is read for -', () => {
    const out = path.join(dir, 'anv.jsonl')
    expect(drmsim(['import', 'anv', anvFile, '-o', out]).code).toBe(0)
    expect(readFileSync(out, 'utf8')).toBe(ANV_REPLAY)
    const r = drmsim(['replay', '--summary', out])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^requests 10\n[\s\S]*mappings 1\n[\s\S]*errors 0\n/)
    const stdin = drmsim(['import', 'nvk', '-'], readFileSync(nvkFile, 'utf8'))
    expect(stdin.stdout).toBe(NVK_REPLAY.replace('nvk-vm.txt', '<stdin>'))
  })

  it('a malformed line, an unreadable file, an unknown format: exit code 2, one line', () => {
    const bad = drmsim(['import', 'nvk', '-'], 'x\nunbind vma [0x3000, 0x2000)\n')
    expect([bad.code, bad.stdout]).toEqual([2, ''])
    expect(bad.stderr).toBe('drmsim: <stdin>:2: VA range [0x3000, 0x2000) ends before it starts\n')
    const missing = drmsim(['import', 'anv', path.join(dir, 'none.txt')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toBe(`drmsim: cannot read ${path.join(dir, 'none.txt')}: ENOENT\n`)
    const format = drmsim(['import', 'radv', anvFile])
    expect(format.code).toBe(2)
    expect(format.stderr).toMatch(/'radv' is invalid for argument 'format'. Allowed choices are anv, nvk/)
  })
})
