// The sweep library (lib/sweep/): grid expansion and task order, seeds, grid files, shards,
// rows and their CSV, the summary, and merging shards with its errors.
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { DrmError } from '../lib/base/errors.js'
import { csvField, csvHeader, csvLine } from '../lib/sweep/csv.js'
import { renderSweep } from '../lib/render/sweep.js'
import { SweepError } from '../lib/sweep/error.js'
import {
  gridInputOfJson,
  gridOf,
  gridText,
  parseParam,
  parseSeeds,
  pointCount,
  pointOf,
  sweepId,
  taskCount,
  taskOf,
  varied,
} from '../lib/sweep/grid.js'
import { mergeRows } from '../lib/sweep/merge.js'
import { sweepPlot, xParam } from '../lib/sweep/plot.js'
import { type Done, runTasks, type TaskMessage } from '../lib/sweep/pool.js'
import { bootThreads, takeThreads, waiting } from '../lib/sweep/threads.js'
import { COLUMNS, parseRow, type Row, rowLine, rowOf } from '../lib/sweep/rows.js'
import { parseShard, shardTasks } from '../lib/sweep/shard.js'
import { summarize, summaryLines } from '../lib/sweep/summary.js'
import { runTask, type TaskOutput, type TaskResult } from '../lib/sweep/task.js'
import { vmbind } from '../lib/workloads/vmbind-run.js'

const grid = gridOf(
  { params: { ops: [1000, 2000], maxPages: [16, 64, 128], engine: ['native', 'reference'] }, seeds: parseSeeds('3') },
  'native',
)

describe('grid', () => {
  it('expands to every point times every seed, the last parameter fastest, then the seed', () => {
    expect(pointCount(grid)).toBe(12)
    expect(taskCount(grid)).toBe(36)
    expect(varied(grid)).toEqual(['engine', 'ops', 'maxPages'])
    const order = Array.from({ length: 36 }, (_, i) => taskOf(grid, i))
    expect(
      order.slice(0, 4).map((t) => [t.point, t.params.engine, t.params.ops, t.params.maxPages, t.params.seed]),
    ).toEqual([
      [0, 'native', 1000, 16, 1n],
      [0, 'native', 1000, 16, 2n],
      [0, 'native', 1000, 16, 3n],
      [1, 'native', 1000, 64, 1n],
    ])
    expect(pointOf(grid, 5)).toEqual({
      engine: 'native',
      ops: 2000,
      window: 1 << 20,
      maxPages: 128,
      objects: 1024,
      mapPercent: 70,
    })
    expect(pointOf(grid, 6).engine).toBe('reference')
    // Every (point, seed) once.
    const keys = new Set(order.map((t) => `${t.point}/${t.params.seed}`))
    expect(keys.size).toBe(36)
  })

  it('parses values, ranges and steps; refuses repeats, unknown names and bad values', () => {
    expect(parseParam('ops=1000,2000')).toEqual({ name: 'ops', values: [1000, 2000] })
    expect(parseParam('max-pages=16..64:16')).toEqual({ name: 'maxPages', values: [16, 32, 48, 64] })
    expect(parseParam('mapPercent=1..3')).toEqual({ name: 'mapPercent', values: [1, 2, 3] })
    expect(parseParam('engine=reference,native').values).toEqual(['reference', 'native'])
    expect(() => parseParam('ops=1,1')).toThrow('ops lists 1 twice')
    expect(() => parseParam('opz=1')).toThrow('no parameter named opz')
    expect(() => parseParam('seed=1')).toThrow('--seeds')
    expect(() => parseParam('ops=-1')).toThrow('not a non-negative integer: -1')
    expect(() => parseParam('ops')).toThrow('expected name=v1,v2')
    expect(() => parseParam('engine=gpu')).toThrow('gpu is not one of native, reference')
    expect(() => gridOf({ params: { maxPages: [0] } }, 'native')).toThrow('max-pages=0: max-pages must be at least 1')
    expect(() => gridOf({ params: { mapPercent: [101] } }, 'native')).toThrow(SweepError)
  })

  it('reads seeds as a count, ranges and lists, joins runs that follow on, refuses a seed twice', () => {
    expect(parseSeeds('4')).toEqual([{ from: 1n, to: 4n }])
    expect(parseSeeds('5..5')).toEqual([{ from: 5n, to: 5n }])
    expect(parseSeeds('1..3,4,9,0x10')).toEqual([
      { from: 1n, to: 4n },
      { from: 9n, to: 9n },
      { from: 16n, to: 16n },
    ])
    expect(parseSeeds('18446744073709551615..18446744073709551615')[0].to).toBe(2n ** 64n - 1n)
    expect(() => parseSeeds('1..4,3')).toThrow('seed 3 is given twice')
    expect(() => parseSeeds('0')).toThrow('a count of at least 1')
    expect(() => parseSeeds('4..2')).toThrow('empty range')
    const g = gridOf({ seeds: parseSeeds('7,100..101') }, 'native')
    expect([0, 1, 2].map((i) => taskOf(g, i).params.seed)).toEqual([7n, 100n, 101n])
  })

  it('reads a grid file: lists or single values, option or field names, seeds as text, count or list', () => {
    const input = gridInputOfJson(
      '{"ops": [1000, 2000], "max-pages": 16, "engine": "reference", "seeds": [5, 9]}',
      'g.json',
    )
    expect(input.params).toEqual({ ops: [1000, 2000], maxPages: [16], engine: ['reference'] })
    expect(input.seeds).toEqual([
      { from: 5n, to: 5n },
      { from: 9n, to: 9n },
    ])
    expect(gridInputOfJson('{"seeds": 3}', 'g.json').seeds).toEqual([{ from: 1n, to: 3n }])
    expect(gridInputOfJson('{"seeds": [7]}', 'g.json').seeds).toEqual([{ from: 7n, to: 7n }])
    expect(() => gridInputOfJson('[1]', 'g.json')).toThrow('g.json: a grid file is one JSON object')
    expect(() => gridInputOfJson('{"size": [1]}', 'g.json')).toThrow('g.json: no parameter named size')
    expect(() => gridInputOfJson('{"ops": []}', 'g.json')).toThrow('g.json: ops: a list of integers')
    expect(() => gridInputOfJson('{', 'g.json')).toThrow('g.json: not JSON')
  })

  it('names the sweep by its grid: the same grid, written another way, has the same id', () => {
    const a = gridOf({ params: { ops: [1000, 2000] }, seeds: parseSeeds('1..4') }, 'native')
    const b = gridOf(
      { params: { ops: parseParam('ops=1000..2000:1000').values as number[] }, seeds: parseSeeds('4') },
      'native',
    )
    expect(sweepId(a)).toBe(sweepId(b))
    expect(sweepId(a)).toMatch(/^[0-9a-f]{16}$/)
    expect(gridText(a)).toBe(
      'drmsim sweep vmbind v1\nengine=native\nops=1000,2000\nwindow=1048576\nmax-pages=64\nobjects=1024\nmap-percent=70\nseeds=1..4\n',
    )
    const c = gridOf({ params: { ops: [2000, 1000] }, seeds: parseSeeds('1..4') }, 'native')
    expect(sweepId(c)).not.toBe(sweepId(a))
    expect(sweepId(gridOf({ params: { ops: [1000, 2000] }, seeds: parseSeeds('4') }, 'reference'))).not.toBe(sweepId(a))
  })

  it('a grid whose traces are not hashed is another sweep; a hashed one keeps the text it had', () => {
    const input = { params: { ops: [1000, 2000] }, seeds: parseSeeds('1..4') }
    const hashed = gridOf({ ...input, traceHash: true }, 'native')
    const unhashed = gridOf({ ...input, traceHash: false }, 'native')
    expect(gridText(hashed)).toBe(gridText(gridOf(input, 'native')))
    expect(gridText(unhashed)).toBe(`${gridText(hashed)}trace-hash=off\n`)
    expect(sweepId(unhashed)).not.toBe(sweepId(hashed))
    expect(taskOf(unhashed, 5)).toEqual({ ...taskOf(hashed, 5), traceHash: false })
  })
})

describe('shards', () => {
  it.each([1, 2, 3, 4, 5])('%i shards take every task exactly once, round-robin', (n) => {
    for (const tasks of [0, 1, 4, 36, 37]) {
      const all = Array.from({ length: n }, (_, i) => shardTasks(tasks, { index: i, count: n }))
      for (const [i, part] of all.entries()) expect(part.every((t) => t % n === i)).toBe(true)
      expect(all.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: tasks }, (_, i) => i))
    }
  })

  it('parses i/n from 0', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 })
    expect(() => parseShard('3/3')).toThrow('i counts from 0')
    expect(() => parseShard('0/0')).toThrow('n must be at least 1')
    expect(() => parseShard('1-3')).toThrow('expected i/n')
  })
})

const small = gridOf({ params: { ops: [300, 600] }, seeds: parseSeeds('2') }, 'native')
const smallRows = (): Row[] =>
  Array.from({ length: taskCount(small) }, (_, i) => {
    const t = taskOf(small, i)
    return rowOf(sweepId(small), taskCount(small), t, runTask(t.params).result)
  })

describe('a task and its row', () => {
  it('measures what drmsim vmbind does with the same parameters, on both engines', () => {
    const params = {
      engine: 'native' as const,
      ops: 2000,
      window: 4096,
      maxPages: 64,
      objects: 16,
      mapPercent: 60,
      seed: 9n,
    }
    const got = runTask(params).result
    const out = vmbind({ ...params, details: true })
    const d = out.details!
    expect(got).toMatchObject({
      requests: 2000,
      map: d.map,
      remap: d.remap,
      unmap: d.unmap,
      splits: d.splits,
      keeps: d.keeps,
      mappings: d.mappings.length,
      mappedBytes: Number(d.mappedBytes),
      holes: d.holes,
      stateFnv1a64: d.stateFnv1a64,
    })
    expect(out.summary).toContain(`trace_fnv1a64 ${got.traceFnv1a64}\n`)
    expect(runTask({ ...params, engine: 'reference' }).result).toEqual(got)
    // Unhashed: the same measures, the trace's hash empty, on both engines.
    const unhashed = { ...got, traceFnv1a64: '' }
    expect(runTask(params, false).result).toEqual(unhashed)
    expect(runTask({ ...params, engine: 'reference' }, false).result).toEqual(unhashed)
  })

  it('is one JSON line in column order, read back as it was; a bad row names file:line and the column', () => {
    const rows = smallRows()
    const line = rowLine(rows[3])
    expect(Object.keys(JSON.parse(line))).toEqual([...COLUMNS])
    expect(JSON.parse(line)).toMatchObject({ task: 3, tasks: 4, point: 1, seed: '2', ops: 600, requests: 600 })
    expect(rowLine(parseRow(line, 'a:1'))).toBe(line)
    expect(() => parseRow('{"sweep":"x"}', 'a.jsonl:7')).toThrow(
      'a.jsonl:7: not a result row of drmsim sweep: task is missing',
    )
    expect(() => parseRow(line.replace('"seed":"2"', '"seed":2'), 'a:1')).toThrow('seed is 2')
    expect(() => parseRow(line.replace('{', '{"extra":1,'), 'a:1')).toThrow('unknown column extra')
    expect(() => parseRow('nope', 'a:2')).toThrow('a:2: not JSON')
  })

  it('as CSV: the header, then the same columns, quoted only when they must be', () => {
    const row = smallRows()[0]
    expect(csvHeader().split(',')).toEqual([...COLUMNS])
    expect(csvLine(row).split(',')).toEqual(COLUMNS.map((c) => String(row[c])))
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField(0.25)).toBe('0.25')
  })
})

describe('summary, plot and merge', () => {
  const fake = (task: number, point: number, mappings: number): Row => ({
    ...(Object.fromEntries(COLUMNS.map((c) => [c, 0])) as unknown as TaskResult),
    sweep: 'abc',
    task,
    tasks: 4,
    point,
    seed: String(task + 1),
    engine: 'native',
    ops: point === 0 ? 100 : 200,
    window: 8,
    maxPages: 4,
    objects: 2,
    mapPercent: 70,
    mappings,
    fragmentation: 0.5,
    traceFnv1a64: '0',
    stateFnv1a64: '0',
  })
  const rows = [fake(0, 0, 10), fake(1, 0, 20), fake(2, 1, 5), fake(3, 1, 6)]

  it('reduces each point over its seeds: mean, least, greatest', () => {
    const points = summarize(rows)
    expect(points.map((p) => [p.point, p.seeds, p.stats.mappings])).toEqual([
      [0, 2, { mean: 15, min: 10, max: 20 }],
      [1, 2, { mean: 5.5, min: 5, max: 6 }],
    ])
    const lines = summaryLines(points)
    expect(lines[0]).toBe(
      '2 grid points, 4 runs; the same for all: engine=native window=8 max-pages=4 objects=2 map-percent=70',
    )
    expect(lines[1]).toMatch(/^ops {2}seeds {2}mappings mean \[min, max\] {2}splits/)
    expect(lines[2]).toMatch(/^100 {6}2 {8,}15 \[10, 20\]/)
    expect(lines[3]).toMatch(/^200 {6}2 {8,}5\.5 \[5, 6\]/)
  })

  it('plots a measure against the parameter that varies, one series', () => {
    const points = summarize(rows)
    expect(xParam(points, undefined)).toBe('ops')
    expect(() => xParam(points, 'window')).toThrow('window takes one value in this sweep')
    const plot = sweepPlot(points, 'ops', ['mappings'])
    expect(plot.xValues).toEqual([100, 200])
    expect(plot.panels[0].series).toEqual([
      {
        name: 'mean over seeds',
        points: [
          { x: 100, mean: 15, min: 10, max: 20 },
          { x: 200, mean: 5.5, min: 5, max: 6 },
        ],
      },
    ])
  })

  it('draws a grid that doubles on a logarithmic axis, one that adds on a linear one', () => {
    const at = (xs: number[]) =>
      renderSweep({
        xLabel: 'window',
        xValues: xs,
        panels: [
          {
            title: 't',
            kind: 'count',
            series: [{ name: 's', points: xs.map((x) => ({ x, mean: 1, min: 1, max: 1 })) }],
          },
        ],
      })
    // The plot spans x = 96 .. 912 (960 wide, 80 left, 32 right, 16 inset).
    const log = at([256, 16384, 1048576])
    expect(log).toContain('>window (log scale)</text>')
    expect([...log.matchAll(/<circle cx="([\d.]+)" cy="[\d.]+" r="3"/g)].map((m) => Number(m[1]))).toEqual([
      96, 504, 912,
    ])
    const linear = at([1000, 2000, 4000])
    expect(linear).toContain('>window</text>')
    expect([...linear.matchAll(/<circle cx="([\d.]+)" cy="[\d.]+" r="3"/g)].map((m) => Number(m[1]))).toEqual([
      96, 368, 912,
    ])
  })

  it('merges shards in any order into task order, and refuses another sweep, a task twice, tasks missing', () => {
    const lines = rows.map(rowLine)
    const file = (name: string, ...i: number[]) => ({ name, text: i.map((k) => `${lines[k]}\n`).join('') })
    expect(mergeRows([file('b', 1, 3), file('e'), file('a', 0, 2)])).toEqual(rows)
    expect(() => mergeRows([file('a', 0, 2)])).toThrow(
      "2 of the sweep's 4 tasks are missing: 1, 3 (the tasks of --shard 1/2: is its file left out?)",
    )
    expect(() => mergeRows([file('a', 0, 1), file('b', 1, 2, 3)])).toThrow('task 1 is there twice: a:2 and b:1')
    expect(() => mergeRows([file('a', 0, 1), file('a', 2, 3)])).toThrow('a is given twice')
    const other = { name: 'c', text: `${lines[2].replace('"sweep":"abc"', '"sweep":"abd"')}\n` }
    expect(() => mergeRows([file('a', 0, 1), other])).toThrow(
      'c:1 is a row of another sweep (id abd, 4 tasks) than a:1',
    )
    expect(() => mergeRows([file('e')])).toThrow('no result rows')
  })
})

describe('the worker pool', () => {
  // Stand-ins for worker.js (the real one runs from the built package, in cli-sweep.spec.ts) and for
  // the calling thread's runTask: each answers a task with its seed and fails seed 5; the worker
  // thread stops on seed 6. As it loads, a worker thread adds a line to the file `loads`; as its
  // start message comes, it writes the file `started`.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drmsim-pool-'))
  const started = path.join(dir, 'started')
  const loads = path.join(dir, 'loads')
  const fakeWorker = path.join(dir, 'worker.js')
  writeFileSync(
    fakeWorker,
    `const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
fs.appendFileSync(${JSON.stringify(loads)}, 'load\\n')
parentPort.once('message', ({ tasks, claims }) => {
  fs.writeFileSync(${JSON.stringify(started)}, '')
  for (let at = Atomics.add(claims, 0, 1); at < tasks.length; at = Atomics.add(claims, 0, 1)) {
    const t = tasks[at]
    if (t.params.seed === 5n) parentPort.postMessage({ index: t.index, error: { message: 'EINVAL: no such thing', code: 'EINVAL' } })
    else if (t.params.seed === 6n) process.exit(3)
    else parentPort.postMessage({ index: t.index, output: { result: { seed: String(t.params.seed) }, loopNs: 0 }, wallNs: 1 })
  }
})
`,
  )
  /** Worker threads of the stand-in loaded since the last call. */
  const loaded = (): number => {
    const n = existsSync(loads) ? readFileSync(loads, 'utf8').split('\n').length - 1 : 0
    rmSync(loads, { force: true })
    return n
  }
  const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
  /**
   * The calling thread's stand-in. With `holdMs`, its first task (or each of `slow`) waits for a
   * worker thread to start and then `holdMs` more, so that the worker threads claim tasks meanwhile.
   */
  const here = (holdMs = 0, slow?: (p: TaskMessage['params']) => boolean) => {
    rmSync(started, { force: true })
    let first = true
    return (p: TaskMessage['params']): TaskOutput => {
      if (holdMs > 0 && (slow ? slow(p) : first)) {
        for (let waited = 0; !existsSync(started) && waited < 10_000; waited += 5) sleep(5)
        sleep(holdMs)
      }
      first = false
      if (p.seed === 5n) throw new DrmError('EINVAL', 'no such thing')
      return { result: { seed: String(p.seed) } as unknown as TaskResult, loopNs: 0 }
    }
  }
  const g = gridOf({ params: { ops: [100, 400] }, seeds: parseSeeds('4') }, 'native')

  it.each([1, 2, 3])(
    'runs every task once on %i workers, claimed costliest first, with its task index',
    async (workers) => {
      const done: Done[] = []
      const tasks = shardTasks(taskCount(g), { index: 0, count: 1 })
      await runTasks(g, tasks, {
        workers,
        onDone: (d) => done.push(d),
        workerFile: fakeWorker,
        // Held only when a worker thread will start.
        runTask: here(workers > 1 ? 200 : 0),
      })
      expect(done.map((d) => d.index).sort((a, b) => a - b)).toEqual(tasks)
      for (const d of done) expect(d.output.result).toEqual({ seed: String(taskOf(g, d.index).params.seed) })
      if (workers === 1) {
        // On the calling thread alone, in the order claimed: ops 400 (tasks 4..7) before ops 100.
        expect(done.map((d) => d.index)).toEqual([4, 5, 6, 7, 0, 1, 2, 3])
        expect(done.every((d) => d.worker === 0)).toBe(true)
      } else {
        // The calling thread claimed the costliest task first, and the worker threads ran tasks too.
        expect(done.find((d) => d.index === 4)?.worker).toBe(0)
        expect(done.some((d) => d.worker > 0)).toBe(true)
        expect(done.every((d) => d.worker < workers)).toBe(true)
      }
    },
  )

  it('a slow task holds up no other: the other workers claim the rest meanwhile', async () => {
    // The calling thread claims the costliest task (seed 8 at 400 ops) and takes 300 ms over it.
    const g89 = gridOf({ params: { ops: [100, 400] }, seeds: parseSeeds('8..9') }, 'native')
    const done: Done[] = []
    const slow = (p: TaskMessage['params']) => p.seed === 8n && p.ops === 400
    await runTasks(g89, [0, 1, 2, 3], {
      workers: 2,
      onDone: (d) => done.push(d),
      workerFile: fakeWorker,
      runTask: here(300, slow),
    })
    const slowOne = done.find((d) => slow(taskOf(g89, d.index).params))!
    expect(slowOne.worker).toBe(0)
    expect(done.filter((d) => d.worker === 0)).toEqual([slowOne])
    expect(done.filter((d) => d.worker === 1)).toHaveLength(3)
  })

  it.each([
    ['the calling thread', 1],
    ['a worker thread', 2],
  ])('a task that fails on %s rejects the run with its errno and names the task', async (_, workers) => {
    const g5 = gridOf({ seeds: parseSeeds('3..5') }, 'native')
    // On two workers the calling thread holds its first task (seed 3) until the worker thread has run the rest.
    const run = runTasks(g5, [0, 1, 2], {
      workers,
      onDone: () => {},
      workerFile: fakeWorker,
      runTask: here(workers > 1 ? 300 : 0),
    })
    await expect(run).rejects.toThrow(
      new DrmError('EINVAL', 'task 2 (seed 5, ops 100000, engine native): no such thing'),
    )
  })

  describe('threads started ahead (threads.ts)', () => {
    const tasks = shardTasks(taskCount(g), { index: 0, count: 1 })
    const waitFor = (threads: number) => {
      for (let waited = 0; loadedSoFar() < threads && waited < 10_000; waited += 5) sleep(5)
    }
    const loadedSoFar = (): number => (existsSync(loads) ? readFileSync(loads, 'utf8').split('\n').length - 1 : 0)

    it('the pool takes them instead of starting its own, and stops those it does not need', async () => {
      loaded()
      const ahead = bootThreads(2, fakeWorker)
      expect(ahead).toHaveLength(2)
      expect(waiting(fakeWorker)).toBe(2)
      const exits = ahead.map((w) => once(w, 'exit'))
      waitFor(2)
      const done: Done[] = []
      await runTasks(g, tasks, { workers: 2, onDone: (d) => done.push(d), workerFile: fakeWorker, runTask: here(200) })
      expect(done.map((d) => d.index).sort((a, b) => a - b)).toEqual(tasks)
      expect(done.some((d) => d.worker === 1)).toBe(true)
      expect(waiting(fakeWorker)).toBe(0)
      // Both end, the one taken once no task is left, the other stopped unused; no third one was started.
      await Promise.all(exits)
      expect(loaded()).toBe(2)
    }, 30_000)

    it('one that stopped or failed to load before it is taken is left behind, and another started', async () => {
      const [ended] = bootThreads(1, fakeWorker)
      waitFor(1)
      await ended.terminate()
      const broken = path.join(dir, 'broken.js')
      writeFileSync(broken, "throw new Error('no such module')\n")
      const [failed] = bootThreads(1, broken)
      // (events.once would reject on the 'error' that comes first.)
      await new Promise((resolve) => failed.on('exit', resolve))
      expect([waiting(fakeWorker), waiting(broken)]).toEqual([0, 0])
      expect(takeThreads(0, broken)).toEqual([])
      loaded()
      const done: Done[] = []
      await runTasks(g, tasks, { workers: 2, onDone: (d) => done.push(d), workerFile: fakeWorker, runTask: here(200) })
      expect(done.some((d) => d.worker === 1)).toBe(true)
      expect(loaded()).toBe(1)
    })

    it('none start from a script that is not there (the sources under a test runner)', () => {
      expect(bootThreads(1, path.join(dir, 'none.js'))).toEqual([])
      expect(bootThreads(0, fakeWorker)).toEqual([])
      expect(waiting(fakeWorker)).toBe(0)
    })
  })

  it('a worker thread that stops rejects the run', async () => {
    // Seed 7 is task 0, which the calling thread claims and holds; the worker thread claims seed 6 and stops.
    const g76 = gridOf({ seeds: parseSeeds('7,6') }, 'native')
    const run = runTasks(g76, [0, 1], { workers: 2, onDone: () => {}, workerFile: fakeWorker, runTask: here(300) })
    await expect(run).rejects.toThrow('a sweep worker thread stopped (exit code 3) with tasks left')
  })
})
