// What drmsim writes besides its report: the time series (--stats-every), the mappings left
// (--dump-mappings), zoomed pictures (--from/--to), and every scenario at once (scenario --all).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { runScenario, scenarios } from '../lib/workloads/scenarios.js'
import { Fnv1a64 } from '../lib/workloads/vmbind.js'

const root = path.resolve(__dirname, '..')
const example = path.join(root, 'examples/replay.jsonl')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const dir = mkdtempSync(path.join(tmpdir(), 'drmsim-cli-output-'))
const at = (name: string) => path.join(dir, name)

function drmsim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const csv = (text: string) => text.trimEnd().split('\n')
const jsonl = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l))

describe('vmbind --stats-every', () => {
  it('a row after every n requests and after the last, the last one the summary; the same on both engines', () => {
    const rows = ['native', 'reference'].map((engine) => {
      const file = at(`series-${engine}.csv`)
      const r = drmsim(
        'vmbind',
        '--ops',
        '2000',
        '--stats-every',
        '700',
        '--stats',
        file,
        '--machine',
        '--engine',
        engine,
      )
      expect(r.code).toBe(0)
      // The machine summary is untouched by it.
      expect(r.stdout).toBe(
        'requests 2000\nops map=1411 remap=54 unmap=12\nmappings 1412\ntrace_fnv1a64 a596e01a03b525eb\nstate_fnv1a64 63a7a7e45c0ccbd6\n',
      )
      return csv(readFileSync(file, 'utf8'))
    })
    expect(rows[1]).toEqual(rows[0])
    expect(rows[0][0]).toBe('req,mappings,map,remap,unmap,splits,keeps,mappedBytes')
    expect(rows[0].slice(1).map((l) => Number(l.split(',')[0]))).toEqual([699, 1399, 1999])
    expect(rows[0][3]).toBe('1999,1412,1411,54,12,13,0,180903936')
  })

  it('to stdout: only the series there (JSON Lines with --json), the report on stderr', () => {
    const r = drmsim('vmbind', '--ops', '2000', '--stats-every', '1000', '--json')
    expect(r.code).toBe(0)
    expect(jsonl(r.stdout)).toEqual([
      { req: 999, mappings: 720, map: 721, remap: 11, unmap: 3, splits: 2, keeps: 0, mappedBytes: 94191616 },
      { req: 1999, mappings: 1412, map: 1411, remap: 54, unmap: 12, splits: 13, keeps: 0, mappedBytes: 180903936 },
    ])
    expect(JSON.parse(r.stderr)).toMatchObject({ requests: 2000, mappings: 1412 })
  })

  it('a series to a .jsonl file is JSON Lines', () => {
    const file = at('series.jsonl')
    expect(drmsim('vmbind', '--ops', '2000', '--stats-every', '2000', '--stats', file).code).toBe(0)
    expect(jsonl(readFileSync(file, 'utf8'))).toEqual([
      { req: 1999, mappings: 1412, map: 1411, remap: 54, unmap: 12, splits: 13, keeps: 0, mappedBytes: 180903936 },
    ])
  })
})

describe('vmbind --dump-mappings', () => {
  it('the mappings left, in address order: they hash to the summary state_fnv1a64', () => {
    for (const name of ['m.csv', 'm.jsonl']) {
      const file = at(name)
      const r = drmsim('vmbind', '--ops', '2000', '--dump-mappings', file, '--machine')
      expect(r.code).toBe(0)
      const text = readFileSync(file, 'utf8')
      const rows: { addr: string; range: string; obj: number; offset: string }[] = name.endsWith('.csv')
        ? csv(text)
            .slice(1)
            .map((l) => {
              const [addr, range, obj, offset] = l.split(',')
              return { addr, range, obj: Number(obj), offset }
            })
        : jsonl(text)
      if (name.endsWith('.csv')) expect(csv(text)[0]).toBe('addr,range,obj,offset')
      expect(rows).toHaveLength(1412)
      const h = new Fnv1a64()
      for (const m of rows) h.update(`${m.addr} ${m.range} 0x${m.obj.toString(16)} ${m.offset}\n`)
      expect(h.value.toString(16).padStart(16, '0')).toBe('63a7a7e45c0ccbd6')
    }
  })
})

describe('replay --stats-every and --dump-mappings', () => {
  it('the series: mappings, steps, memory per domain, evictions and bytes moved; the last row the summary', () => {
    const r = drmsim('replay', example, '--summary', '--stats-every', '10', '--stats', '-')
    expect(r.code).toBe(0)
    expect(csv(r.stdout)).toEqual([
      'req,line,mappings,map,remap,unmap,vramUsed,gttUsed,systemUsed,vramCapacity,gttCapacity,vramFragmentation,gttFragmentation,evictions,bytesMoved',
      '9,15,7,5,2,0,0,0,7340032,16777216,67108864,0,0,0,0',
      '19,27,8,5,3,0,6291456,0,1048576,16777216,67108864,0,0,0,6291456',
      '28,40,7,5,3,1,6291456,0,0,16777216,67108864,0,0,0,7340032',
    ])
    expect(r.stderr).toMatch(/^requests 29\n[\s\S]*mappings 7\n[\s\S]*bytes_moved=0x700000 evictions=0\n/)
  })

  it('fragmentation follows the free space: a freed buffer between two others leaves a hole', () => {
    const file = at('frag.jsonl')
    writeFileSync(
      file,
      [
        '{"op":"device","vram":"0x400000","gtt":"0"}',
        ...['a', 'b', 'c'].flatMap((o) => [
          `{"op":"obj.create","obj":"${o}","size":"0x100000"}`,
          `{"op":"lock","obj":"${o}"}`,
          `{"op":"validate","obj":"${o}","placement":["vram"]}`,
          `{"op":"unlock","obj":"${o}"}`,
        ]),
        '{"op":"obj.destroy","obj":"b"}',
      ].join('\n'),
    )
    const r = drmsim('replay', file, '--summary', '--stats-every', '1', '--json')
    expect(r.code).toBe(0)
    const rows = jsonl(r.stdout)
    expect(Object.keys(rows[0])).not.toContain('gttCapacity') // no GTT on this device
    expect(rows.at(-2)).toMatchObject({ vramCapacity: 0x400000, vramFragmentation: 0 })
    // 2 MiB free in two 1 MiB holes: 1 - 1/2.
    expect(rows.at(-1)).toMatchObject({ vramUsed: 0x200000, vramFragmentation: 0.5 })
  })

  it('--plot draws the series (and, without --stats, writes no table); it needs --stats-every', () => {
    const file = at('replay-plot.svg')
    const r = drmsim('replay', example, '--summary', '--stats-every', '5', '--plot', file)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^requests 29\n/) // the summary, on stdout: no table there
    const svg = readFileSync(file, 'utf8')
    for (const panel of [
      'GPU VA mappings',
      'VRAM memory used',
      'Fragmentation (1 - largest free / free)',
      'Bytes moved so far',
    ])
      expect(svg).toContain(panel)
    expect(svg).toContain('>capacity<') // the dashed capacity line's legend
    const both = drmsim('replay', example, '--summary', '--stats-every', '5', '--stats', '-', '--plot', file)
    expect(csv(both.stdout)[0]).toMatch(/^req,line,mappings/)
    const v = drmsim('vmbind', '--ops', '2000', '--machine', '--stats-every', '500', '--plot', at('vmbind-plot.svg'))
    expect(v.code).toBe(0)
    expect(readFileSync(at('vmbind-plot.svg'), 'utf8')).toContain('Steps emitted so far')
    expect(drmsim('replay', example, '--plot', file).code).toBe(2)
    expect(drmsim('vmbind', '--ops', '100', '--plot', file).code).toBe(2)
    const bad = drmsim(
      'replay',
      example,
      '--summary',
      '--stats-every',
      '5',
      '--plot',
      path.join(dir, 'no/such/dir.svg'),
    )
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^drmsim: --plot: cannot write .*ENOENT/m)
  })

  it('a VA space destroyed with mappings left takes them out of the count, which ends at the summary', () => {
    const file = at('destroy.jsonl')
    writeFileSync(
      file,
      [
        '{"op":"vm.create","vm":"a","range":"0x100000000"}',
        '{"op":"vm.create","vm":"b","range":"0x100000000"}',
        '{"op":"obj.create","obj":"o","size":"0x100000"}',
        '{"op":"bind","vm":"a","addr":"0x1000","range":"0x4000","obj":"o"}',
        '{"op":"bind","vm":"b","addr":"0x1000","range":"0x4000","obj":"o"}',
        '{"op":"bind","vm":"b","addr":"0x2000","range":"0x1000","obj":null}',
        '{"op":"vm.destroy","vm":"a"}',
        '{"op":"unbind","vm":"b","addr":"0x1000","range":"0x1000"}',
      ].join('\n'),
    )
    const r = drmsim('replay', file, '--summary', '--stats-every', '1', '--json')
    expect(r.code).toBe(0)
    expect(jsonl(r.stdout).map((row) => row.mappings)).toEqual([0, 0, 0, 1, 2, 4, 3, 2])
    expect(JSON.parse(r.stderr.trimEnd().split('\n').at(-1)!).summary.mappings).toBe(2)
  })

  it('the mappings of every VA space: vm, addr, range, obj (none for a sparse one), offset', () => {
    const file = at('replay-mappings.csv')
    expect(drmsim('replay', example, '--summary', '--dump-mappings', file).code).toBe(0)
    expect(csv(readFileSync(file, 'utf8'))).toEqual([
      'vm,addr,range,obj,offset',
      'ctx,0x100000,0x100000,color,0x0',
      'ctx,0x200000,0x1000,color,0x100000',
      'ctx,0x201000,0xff000,color,0x101000',
      'ctx,0x300000,0x10000,,0x0',
      'ctx,0x310000,0x1f0000,color,0x210000',
      'ctx,0x600000,0x100000,depth,0x0',
      'ctx,0x780000,0x80000,depth,0x180000',
    ])
    const json = drmsim('replay', example, '--summary', '--dump-mappings', '-', '--json')
    expect(jsonl(json.stdout)[3]).toEqual({ vm: 'ctx', addr: '0x300000', range: '0x10000', obj: null, offset: '0x0' })
  })
})

describe('--from/--to zoom the pictures', () => {
  it('vmbind: the range shown is the one asked for, by default the request window', () => {
    const zoomed = at('zoom.svg')
    const whole = at('whole.svg')
    expect(drmsim('vmbind', '--ops', '500', '--machine', '--svg', whole).code).toBe(0)
    const r = drmsim(
      'vmbind',
      '--ops',
      '500',
      '--machine',
      '--svg',
      zoomed,
      '--from',
      '0x140000000',
      '--to',
      '0x150000000',
    )
    expect(r.code).toBe(0)
    expect(readFileSync(whole, 'utf8')).toContain('[0x100000000, 0x200000000)')
    expect(readFileSync(zoomed, 'utf8')).toContain('[0x140000000, 0x150000000)')
  })

  it('replay: every VA space is drawn over the range asked for', () => {
    const file = at('replay-zoom.svg')
    expect(drmsim('replay', example, '--summary', '--svg', file, '--from', '0x200000', '--to', '0x300000').code).toBe(0)
    expect(readFileSync(file, 'utf8')).toContain('[0x200000, 0x300000)')
  })
})

describe('scenario --all', () => {
  it('runs every scenario in --list order: text blocks separated by blank lines, or one JSON object each', () => {
    const r = drmsim('scenario', '--all', '--engine', 'reference')
    expect(r.code).toBe(0)
    const blocks = r.stdout.trimEnd().split('\n\n')
    const names = [...scenarios.keys()]
    expect(blocks).toHaveLength(names.length)
    names.forEach((name, i) => {
      const one = runScenario(name, { engine: 'reference' })
      expect(blocks[i]).toBe(
        `${one.title} [reference]\n${one.lines.join('\n')}\noutcome ${JSON.stringify(one.outcome)}`,
      )
    })
    const json = drmsim('scenario', '--all', '--json')
    expect(json.code).toBe(0)
    expect(jsonl(json.stdout).map((o) => o.name)).toEqual(names)
  })
})
