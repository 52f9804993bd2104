#!/usr/bin/env node
// drmsim sweep on one worker and on two: the speed-up of the worker pool (issue 18).
// `node bench/sweep.mjs [--smoke|--quick] [--repeat N]`, or section "sweep" of bench/run.mjs.
// Each repeat runs both, alternately, as a user runs the CLI (a fresh process each), and checks
// that their rows are the same bytes; the table gives the median and best wall times and, on
// Linux, how many cores other processes kept busy during the best run (the machine may be
// shared: /proc/stat's busy time less the sweep's own, from /proc/self/stat's children times).
// A third row is the machine's own ceiling for two-way parallelism of these tasks: two separate
// processes side by side, one shard each (--shard 0/2 and 1/2, one worker), merged by drmsim merge
// into the same bytes. No pool is involved, so what it loses against one worker is what the two
// cores lose to each other (shared cache and memory), not what the pool costs.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const cli = path.join(root, 'dist/cli/main.js')

export const GRIDS = {
  smoke: ['--param', 'ops=2000', '--param', 'max-pages=16,64', '--seeds', '2'],
  quick: ['--param', 'ops=100000', '--param', 'max-pages=16,64', '--seeds', '8'],
  full: ['--param', 'ops=200000', '--param', 'max-pages=16,64', '--seeds', '16'],
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const load = () => os.loadavg()[0].toFixed(2)

/** CPU ticks (USER_HZ, 100 a second) busy on the whole machine, and used by this process's waited-for children. */
function ticks() {
  if (!existsSync('/proc/stat')) return undefined
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]
  const self = readFileSync('/proc/self/stat', 'utf8')
  const f = self
    .slice(self.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number)
  // Fields 16 and 17 of stat (cutime, cstime) are f[13] and f[14] once pid and comm are cut off.
  return { busy, children: f[13] + f[14] }
}

/** Runs the CLI with `args`, resolving when it exits (rejecting if it fails). */
const drmsim = (args) =>
  new Promise((resolve, reject) => execFile(process.execPath, [cli, ...args], (err) => (err ? reject(err) : resolve())))

/** The three ways a repeat runs the grid: 1 and 2 workers, and two processes of one shard each ('2p'). */
const WAYS = [1, 2, '2p']

/** Runs the grid of `mode` each way `repeat` times; returns a markdown table's title, head and rows. */
export async function benchSweep(mode, repeat = mode === 'smoke' ? 1 : 5) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drmsim-sweep-bench-'))
  const loadBefore = load()
  const wall = { 1: [], 2: [], '2p': [] }
  const others = { 1: [], 2: [], '2p': [] }
  const rows = {}
  const sweep = (w, out, shard = []) =>
    drmsim(['sweep', ...GRIDS[mode], ...shard, '--workers', String(w), '--out', out])
  try {
    for (let r = 0; r < repeat; r++) {
      for (const w of WAYS) {
        const out = path.join(dir, `w${w}.jsonl`)
        const shards = [0, 1].map((i) => path.join(dir, `shard${i}.jsonl`))
        const t = process.hrtime.bigint()
        const before = ticks()
        if (w === '2p') await Promise.all(shards.map((s, i) => sweep(1, s, ['--shard', `${i}/2`])))
        else await sweep(w, out)
        const after = ticks()
        const secs = Number(process.hrtime.bigint() - t) / 1e9
        wall[w].push(secs)
        others[w].push(
          before && after ? (after.busy - before.busy - (after.children - before.children)) / 100 / secs : Number.NaN,
        )
        if (w === '2p') await drmsim(['merge', ...shards, '--out', out])
        rows[w] = readFileSync(out, 'utf8')
      }
      if (rows[1] !== rows[2]) throw new Error('drmsim sweep: the rows on 1 and 2 workers differ')
      if (rows[1] !== rows['2p']) throw new Error('drmsim sweep: the merged shards differ from one run')
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const tasks = rows[1].split('\n').length - 1
  const s = (x) => `${x.toFixed(2)} s`
  const best = (w) => wall[w].indexOf(Math.min(...wall[w]))
  const other = (x) => (Number.isNaN(x) ? '-' : Math.max(0, x).toFixed(2))
  return [
    `drmsim sweep, ${tasks} tasks (${GRIDS[mode].join(' ')}), ${repeat} runs each, load ${loadBefore} before, ${load()} after`,
    [
      'workers',
      'median wall',
      'best wall',
      'speed-up (median)',
      'speed-up (best)',
      'other jobs, best run (cores)',
      'rows',
    ],
    WAYS.map((w) => [
      w === '2p' ? '2 processes, a shard each (the ceiling)' : w,
      s(median(wall[w])),
      s(Math.min(...wall[w])),
      `${(median(wall[1]) / median(wall[w])).toFixed(2)}x`,
      `${(Math.min(...wall[1]) / Math.min(...wall[w])).toFixed(2)}x`,
      other(others[w][best(w)]),
      'same bytes',
    ]),
  ]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv.includes('--smoke') ? 'smoke' : process.argv.includes('--quick') ? 'quick' : 'full'
  const at = process.argv.indexOf('--repeat')
  const [title, head, rows] = await benchSweep(mode, at > 0 ? Number(process.argv[at + 1]) : undefined)
  console.log(`\n### ${title}\n`)
  console.log(`| ${head.join(' | ')} |`)
  console.log(`| ${head.map(() => '---').join(' | ')} |`)
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
}
