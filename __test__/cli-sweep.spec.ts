// drmsim sweep and drmsim merge, run as a user runs them (the built dist/cli/main.js): the same bytes
// whatever the sharding and the workers, merge's checks, the CSV, the rows against drmsim vmbind --json,
// the plot, usage errors.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Resvg } from '@resvg/resvg-js'
import { beforeAll, describe, expect, it } from 'vitest'
import { workersAsked } from '../lib/cli/sweep-early.js'

const root = path.resolve(__dirname, '..')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const dir = mkdtempSync(path.join(os.tmpdir(), 'drmsim-cli-sweep-'))
const at = (name: string) => path.join(dir, name)
const read = (name: string) => readFileSync(at(name), 'utf8')

function drmsim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

// 2 x 2 points x 3 seeds = 12 tasks of a few thousand requests, on both engines' cheap end.
const GRID = ['--param', 'ops=1500,3000', '--param', 'max-pages=16,64', '--seeds', '3', '--param', 'window=65536']

describe('drmsim sweep', () => {
  let whole: ReturnType<typeof drmsim>
  beforeAll(() => {
    whole = drmsim(
      'sweep',
      ...GRID,
      '--workers',
      '2',
      '--out',
      at('whole.jsonl'),
      '--csv',
      at('whole.csv'),
      '--svg',
      at('whole.svg'),
    )
  })

  it('writes one row per task in task order, and the summary table', () => {
    expect(whole.stderr).toBe('')
    expect(whole.code).toBe(0)
    const rows = read('whole.jsonl')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(rows.map((r) => r.task)).toEqual([...Array(12).keys()])
    expect(rows.map((r) => [r.ops, r.maxPages, r.seed])).toEqual(
      [1500, 3000].flatMap((ops) => [16, 64].flatMap((mp) => ['1', '2', '3'].map((s) => [ops, mp, s]))),
    )
    expect(new Set(rows.map((r) => r.sweep)).size).toBe(1)
    const lines = whole.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(
      '4 grid points, 12 runs; the same for all: engine=native window=65536 objects=1024 map-percent=70',
    )
    expect(lines[1]).toMatch(/^ops {3}max-pages {2}seeds {2}mappings mean \[min, max\]/)
    expect(lines.slice(2).map((l) => l.split(/ +/).slice(0, 3))).toEqual([
      ['1500', '16', '3'],
      ['1500', '64', '3'],
      ['3000', '16', '3'],
      ['3000', '64', '3'],
    ])
  })

  it('writes the same bytes on one worker, on two, and as three shards merged', () => {
    const one = drmsim(
      'sweep',
      ...GRID,
      '--workers',
      '1',
      '--out',
      at('one.jsonl'),
      '--csv',
      at('one.csv'),
      '--svg',
      at('one.svg'),
    )
    expect(one.code).toBe(0)
    expect(one.stdout).toBe(whole.stdout)
    for (const i of [0, 1, 2]) {
      const r = drmsim(
        'sweep',
        ...GRID,
        '--shard',
        `${i}/3`,
        '--workers',
        String(1 + (i % 2)),
        '--out',
        at(`shard${i}.jsonl`),
      )
      expect(r.code).toBe(0)
      const tasks = read(`shard${i}.jsonl`)
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).task)
      expect(tasks).toEqual([i, i + 3, i + 6, i + 9])
    }
    const merged = drmsim(
      'merge',
      at('shard2.jsonl'),
      at('shard0.jsonl'),
      at('shard1.jsonl'),
      '--out',
      at('merged.jsonl'),
      '--csv',
      at('merged.csv'),
      '--svg',
      at('merged.svg'),
    )
    expect(merged.code).toBe(0)
    expect(merged.stdout).toBe(whole.stdout)
    for (const f of ['one', 'merged']) {
      expect(read(`${f}.jsonl`)).toBe(read('whole.jsonl'))
      expect(read(`${f}.csv`)).toBe(read('whole.csv'))
      expect(read(`${f}.svg`)).toBe(read('whole.svg'))
    }
  })

  it('threads started ahead of the grid: --workers=3, and more workers than tasks, give the same bytes and end', () => {
    const three = drmsim('sweep', ...GRID, '--workers=3', '--out', at('three.jsonl'))
    expect(three.code).toBe(0)
    expect(three.stdout).toBe(whole.stdout)
    expect(read('three.jsonl')).toBe(read('whole.jsonl'))
    // Two tasks on eight workers: seven threads start ahead, one is taken, six are stopped unused.
    const wide = drmsim('sweep', ...GRID, '--shard', '0/6', '--workers', '8', '--out', at('wide.jsonl'))
    expect(wide.code).toBe(0)
    const lines = read('whole.jsonl').trimEnd().split('\n')
    expect(read('wide.jsonl')).toBe(`${lines[0]}\n${lines[6]}\n`)
  })

  it('--no-trace-hash: the same measures with traceFnv1a64 empty, another sweep id; its shards merge, not with hashed ones', () => {
    const unhashed = drmsim('sweep', ...GRID, '--no-trace-hash', '--workers', '2', '--out', at('nohash.jsonl'))
    expect(unhashed.code).toBe(0)
    expect(unhashed.stdout).toBe(whole.stdout)
    const rowsOf = (name: string) =>
      read(name)
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l))
    const hashed = rowsOf('whole.jsonl')
    const rows = rowsOf('nohash.jsonl')
    expect(new Set(rows.map((r) => r.sweep)).size).toBe(1)
    expect(rows[0].sweep).not.toBe(hashed[0].sweep)
    expect(rows).toEqual(hashed.map((r) => ({ ...r, sweep: rows[0].sweep, traceFnv1a64: '' })))
    for (const i of [0, 1]) {
      const r = drmsim('sweep', ...GRID, '--no-trace-hash', '--shard', `${i}/2`, '--out', at(`nohash${i}.jsonl`))
      expect(r.code).toBe(0)
    }
    const merged = drmsim('merge', at('nohash1.jsonl'), at('nohash0.jsonl'), '--out', at('nohash-merged.jsonl'))
    expect(merged.code).toBe(0)
    expect(read('nohash-merged.jsonl')).toBe(read('nohash.jsonl'))
    const mixed = drmsim('merge', at('nohash0.jsonl'), at('whole.jsonl'))
    expect(mixed.code).toBe(2)
    expect(mixed.stderr).toMatch(/is a row of another sweep/)
  })

  it('gives for each task the numbers drmsim vmbind --json gives for its parameters', () => {
    const rows = read('whole.jsonl')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    for (const row of [rows[0], rows[10]]) {
      const v = drmsim(
        'vmbind',
        '--json',
        '--ops',
        String(row.ops),
        '--max-pages',
        String(row.maxPages),
        '--seed',
        row.seed,
        '--window',
        '65536',
      )
      const j = JSON.parse(v.stdout)
      expect(row).toMatchObject({
        requests: j.requests,
        map: j.ops.map,
        remap: j.ops.remap,
        unmap: j.ops.unmap,
        splits: j.splits,
        keeps: j.keeps,
        mappings: j.mappings,
        mappedBytes: j.va.mappedBytes,
        freeBytes: j.va.freeBytes,
        holes: j.va.holes,
        largestFree: j.va.largestFree,
        fragmentation: j.va.fragmentation,
        traceFnv1a64: j.traceFnv1a64,
        stateFnv1a64: j.stateFnv1a64,
      })
    }
  })

  it('writes CSV: a header and the rows, the same columns as the JSON Lines', () => {
    const csv = read('whole.csv').trimEnd().split('\n')
    const rows = read('whole.jsonl')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    const head = csv[0].split(',')
    expect(head).toEqual(Object.keys(rows[0]))
    expect(csv).toHaveLength(13)
    expect(csv[5].split(',')).toEqual(head.map((c) => String(rows[4][c])))
  })

  it('draws the measures against the first parameter that varies, one series per other combination', () => {
    const svg = read('whole.svg')
    expect(svg).toContain('>mappings (mean over seeds, bars from least to greatest)</text>')
    expect(svg).toContain('>splits (mean over seeds, bars from least to greatest)</text>')
    expect(svg).toContain('>max-pages=16</text>')
    expect(svg).toContain('>max-pages=64</text>')
    expect(svg).toContain('>ops</text>')
    const png = new Resvg(svg, { font: { loadSystemFonts: true } }).render()
    expect(png.width).toBe(960)
    expect(png.height).toBeGreaterThan(400)
  })

  it('runs both engines in the worker threads, with the same results but the engine', () => {
    const r = drmsim('sweep', '--param', 'engine=native,reference', '--param', 'ops=1000', '--seeds', '2', '--out', '-')
    expect(r.code).toBe(0)
    const rows = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(rows.map((x) => x.engine)).toEqual(['native', 'native', 'reference', 'reference'])
    const strip = ({ task, point, engine, ...rest }: Record<string, unknown>) => rest
    expect(rows.slice(2).map(strip)).toEqual(rows.slice(0, 2).map(strip))
  })

  it('--list prints the tasks of a shard without running them; --json prints the summary as JSON', () => {
    const list = drmsim('sweep', ...GRID, '--shard', '1/5', '--list')
    expect(list.code).toBe(0)
    expect(list.stdout).toBe(
      '1\tpoint 0\tseed 2\tengine=native ops=1500 window=65536 max-pages=16 objects=1024 map-percent=70\n' +
        '6\tpoint 2\tseed 1\tengine=native ops=3000 window=65536 max-pages=16 objects=1024 map-percent=70\n' +
        '11\tpoint 3\tseed 3\tengine=native ops=3000 window=65536 max-pages=64 objects=1024 map-percent=70\n',
    )
    const json = drmsim('merge', at('whole.jsonl'), '--json')
    const points = json.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(points).toHaveLength(4)
    expect(points[3]).toMatchObject({ point: 3, ops: 3000, maxPages: 64, seeds: 3 })
    expect(Object.keys(points[3].mappings)).toEqual(['mean', 'min', 'max'])
  })

  it('--out - writes the rows to stdout and the summary to stderr; --timing writes the times apart', () => {
    const r = drmsim('sweep', '--param', 'ops=500', '--seeds', '2', '--out', '-', '--timing', at('t.csv'))
    expect(r.code).toBe(0)
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(2)
    expect(r.stderr).toMatch(/^1 grid point, 2 runs;/)
    const t = read('t.csv').trimEnd().split('\n')
    expect(t[0]).toBe('task,worker,loopNs,wallNs')
    expect(t.slice(1).map((l) => l.split(',')[0])).toEqual(['0', '1'])
  })
})

describe('drmsim merge refuses what is not one whole sweep (exit 2)', () => {
  it('tasks missing, a task twice, another sweep, a line that is not a row', () => {
    const shard = (i: number, ...more: string[]) =>
      drmsim(
        'sweep',
        '--param',
        'ops=200,400',
        '--seeds',
        '2',
        '--shard',
        `${i}/2`,
        '--out',
        at(`m${i}.jsonl`),
        ...more,
      )
    expect(shard(0).code).toBe(0)
    expect(shard(1).code).toBe(0)
    let r = drmsim('merge', at('m0.jsonl'))
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      "drmsim: 2 of the sweep's 4 tasks are missing: 1, 3 (the tasks of --shard 1/2: is its file left out?)\n",
    )
    writeFileSync(at('dup.jsonl'), read('m0.jsonl').split('\n')[0])
    r = drmsim('merge', at('m0.jsonl'), at('m1.jsonl'), at('dup.jsonl'))
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      `drmsim: task 0 is there twice: ${at('m0.jsonl')}:1 and ${at('dup.jsonl')}:1 (a shard given twice?)\n`,
    )
    drmsim('sweep', '--param', 'ops=200,400', '--seeds', '3', '--shard', '1/2', '--out', at('other.jsonl'))
    r = drmsim('merge', at('m0.jsonl'), at('other.jsonl'))
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(
      /^drmsim: .*other\.jsonl:1 is a row of another sweep \(id [0-9a-f]{16}, 6 tasks\) than .*m0\.jsonl:1/,
    )
    writeFileSync(at('bad.jsonl'), '{"sweep": 1}\n')
    r = drmsim('merge', at('bad.jsonl'))
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(`drmsim: ${at('bad.jsonl')}:1: not a result row of drmsim sweep: sweep is 1\n`)
    r = drmsim('merge', at('none.jsonl'))
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(`drmsim: cannot read ${at('none.jsonl')}: ENOENT\n`)
  })
})

describe('drmsim sweep usage errors (exit 2, one line, before any task runs)', () => {
  it.each([
    [
      ['--param', 'opz=1'],
      'drmsim: no parameter named opz: the sweep varies engine, ops, window, max-pages, objects, map-percent\n',
    ],
    [['--param', 'ops=1', '--param', 'ops=2'], 'drmsim: --param ops is given twice: list its values in one --param\n'],
    [['--param', 'max-pages=0'], 'drmsim: max-pages=0: max-pages must be at least 1\n'],
    [['--seeds', '2..1'], 'drmsim: --seeds: 2..1 is an empty range (a..b needs a <= b)\n'],
    [['--shard', '2/2'], 'drmsim: --shard 2/2: i counts from 0, so it must be below n\n'],
    [
      ['--svg', '/tmp/x.svg'],
      'drmsim: --svg plots a measure against a parameter: this sweep varies none (give --param name=v1,v2)\n',
    ],
    [
      ['--param', 'max-pages=1,2', '--svg', '/tmp/x.svg', '--y', 'speed'],
      'drmsim: --y speed: not a measure; one of requests, map, remap, unmap, splits, keeps, mappings, mappedBytes, freeBytes, holes, largestFree, fragmentation\n',
    ],
    [['--x', 'ops'], 'drmsim: --x and --y choose what --svg plots: give --svg too\n'],
    [['--y', 'splits'], 'drmsim: --x and --y choose what --svg plots: give --svg too\n'],
    [['--out', '/nonexistent/dir/a.jsonl'], 'drmsim: --out: cannot write /nonexistent/dir/a.jsonl: ENOENT\n'],
    [['--grid', '/nonexistent.json'], 'drmsim: --grid: cannot read /nonexistent.json: ENOENT\n'],
  ])('%j', (args, message) => {
    const r = drmsim('sweep', '--param', 'ops=100', ...args)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(message)
    expect(r.code).toBe(2)
  })

  it('a grid file gives the grid; a --param replaces one of its parameters', () => {
    writeFileSync(at('grid.json'), JSON.stringify({ ops: [100, 200], 'map-percent': [50, 90], seeds: '4..5' }))
    const r = drmsim('sweep', '--grid', at('grid.json'), '--param', 'map-percent=10', '--list')
    expect(r.code).toBe(0)
    expect(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t').slice(0, 3).join(' ')),
    ).toEqual(['0 point 0 seed 4', '1 point 0 seed 5', '2 point 1 seed 4', '3 point 1 seed 5'])
    expect(r.stdout).toContain('ops=200 window=1048576 max-pages=64 objects=1024 map-percent=10\n')
  })
})

describe('the worker count read ahead of the command line (sweep-early.ts)', () => {
  const byDefault = os.availableParallelism()
  it.each([
    [[], byDefault],
    [['--seeds', '4'], byDefault],
    [['--', '--workers', '4'], byDefault],
    [['--workers', '3'], 3],
    [['--seeds', '4', '--workers=5'], 5],
    [['--workers', '2', '--workers', '6'], 6],
    [['--workers', '1'], 1],
    [['--workers', '1024'], 1024],
    [['--workers', '1025'], undefined],
    [['--workers', '0'], undefined],
    [['--workers', '2.5'], undefined],
    [['--workers', '0x10'], undefined],
    [['--workers'], undefined],
  ])('%j asks for %s', (args, workers) => {
    expect(workersAsked(args)).toBe(workers)
  })
})
