#!/usr/bin/env node
// drmsim sweep on one worker and on two: the speed-up of the worker pool (issue 18).
// `node bench/sweep.mjs [--smoke|--quick] [--repeat N]`, or section "sweep" of bench/run.mjs.
// Each repeat runs both, alternately, as a user runs the CLI (a fresh process each), and checks
// that their rows are the same bytes; the table gives the median and best wall times and the
// load average before and after (the machine may be shared).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const cli = path.join(root, 'dist/cli/main.js')

export const GRIDS = {
  smoke: ['--param', 'ops=2000', '--param', 'max-pages=16,64', '--seeds', '2'],
  quick: ['--param', 'ops=100000', '--param', 'max-pages=16,64', '--seeds', '4'],
  full: ['--param', 'ops=200000', '--param', 'max-pages=16,64', '--seeds', '16'],
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const load = () => os.loadavg()[0].toFixed(2)

/** Runs the grid of `mode` on 1 and 2 workers `repeat` times; returns a markdown table's title, head and rows. */
export function benchSweep(mode, repeat = mode === 'smoke' ? 1 : 3) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drmsim-sweep-bench-'))
  const loadBefore = load()
  const wall = { 1: [], 2: [] }
  const rows = {}
  try {
    for (let r = 0; r < repeat; r++) {
      for (const w of [1, 2]) {
        const out = path.join(dir, `w${w}.jsonl`)
        const t = process.hrtime.bigint()
        execFileSync(process.execPath, [cli, 'sweep', ...GRIDS[mode], '--workers', String(w), '--out', out])
        wall[w].push(Number(process.hrtime.bigint() - t) / 1e9)
        rows[w] = readFileSync(out, 'utf8')
      }
      if (rows[1] !== rows[2]) throw new Error('drmsim sweep: the rows on 1 and 2 workers differ')
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const tasks = rows[1].split('\n').length - 1
  const s = (x) => `${x.toFixed(2)} s`
  return [
    `drmsim sweep, ${tasks} tasks (${GRIDS[mode].join(' ')}), ${repeat} runs each, load ${loadBefore} before, ${load()} after`,
    ['workers', 'median wall', 'best wall', 'speed-up (median)', 'speed-up (best)', 'rows'],
    [1, 2].map((w) => [
      w,
      s(median(wall[w])),
      s(Math.min(...wall[w])),
      `${(median(wall[1]) / median(wall[w])).toFixed(2)}x`,
      `${(Math.min(...wall[1]) / Math.min(...wall[w])).toFixed(2)}x`,
      'same bytes',
    ]),
  ]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv.includes('--smoke') ? 'smoke' : process.argv.includes('--quick') ? 'quick' : 'full'
  const at = process.argv.indexOf('--repeat')
  const [title, head, rows] = benchSweep(mode, at > 0 ? Number(process.argv[at + 1]) : undefined)
  console.log(`\n### ${title}\n`)
  console.log(`| ${head.join(' | ')} |`)
  console.log(`| ${head.map(() => '---').join(' | ')} |`)
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
}
