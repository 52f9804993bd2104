// The drmsim command line, run as a user runs it (the built dist/cli/main.js): vmbind's report, machine
// format, JSON, usage errors, and a reader that stops early.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.resolve(__dirname, '..')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const golden = path.join(__dirname, 'golden/vmbind-seed1-ops2000.trace')

function drmsim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('drmsim vmbind', () => {
  it.each(['native', 'reference'])('--trace on the %s engine prints the golden trace', (engine) => {
    const r = drmsim('vmbind', '--seed', '1', '--ops', '2000', '--trace', '--engine', engine)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(readFileSync(golden, 'utf8'))
  })

  it('the default report says what ran, what happened, and that the kernel recorded the same', () => {
    const r = drmsim('vmbind', '--ops', '2000')
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    const lines = r.stdout.split('\n')
    expect(lines[0]).toBe(
      'ran       vmbind, 2,000 requests: seed 1, a window of 1,048,576 pages (4 GiB at 0x100000000), up to 64 pages a request, 1,024 objects, 70% maps',
    )
    expect(lines[1]).toMatch(
      /^engine {4}native \(the whole run in Rust\): [\d.]+ (ns|µs|ms|s) in the request loop, [\d,]+ requests\/s; [\d.]+ (ns|µs|ms|s) wall time$/,
    )
    expect(lines.slice(2)).toEqual([
      'ops       1,411 maps, 54 remaps, 12 unmaps; 13 splits (remaps that cut a mapping in two), 0 keeps (keep=1)',
      'mappings  1,412 live, 172.5 MiB; the largest 256 KiB (0x40000) at 0x102e32000, object 0x396',
      'VA space  4.2% of the window mapped; 3.8 GiB free in 1,369 holes, the largest 22.6 MiB: fragmentation 0.994',
      "kernel    matches the kernel's recorded result (vmbind-seed1-ops2000.trace: counts, mappings, trace and state hashes)",
      '',
    ])
  })

  it('the report on the reference engine says the same of the run', () => {
    const [native, reference] = ['native', 'reference'].map((e) =>
      drmsim('vmbind', '--ops', '2000', '--engine', e).stdout.split('\n'),
    )
    expect(reference[1]).toMatch(/^engine {4}reference \(TypeScript\): /)
    expect(reference.slice(2)).toEqual(native.slice(2))
  })

  it('parameters without a recorded kernel result say so', () => {
    const r = drmsim('vmbind', '--ops', '2001')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /\nkernel {4}no kernel result is recorded for these parameters \(drmsim vmbind --help lists the ones that are\)\n$/,
    )
  })

  it('--machine prints the exact five-line summary', () => {
    const r = drmsim('vmbind', '--ops', '2000', '--machine')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(readFileSync(golden, 'utf8').split('\n').slice(-6).join('\n'))
  })

  it('--json prints one object: counts as numbers, hashes, the report, the kernel match', () => {
    const r = drmsim('vmbind', '--ops', '2000', '--json')
    expect(r.code).toBe(0)
    const { loopNs, requestsPerSecond, wallNs, ...json } = JSON.parse(r.stdout)
    for (const n of [loopNs, requestsPerSecond, wallNs]) expect(typeof n).toBe('number')
    expect(json).toEqual({
      engine: 'native',
      params: { seed: '1', ops: 2000, window: 1048576, maxPages: 64, objects: 1024, mapPercent: 70 },
      requests: 2000,
      ops: { map: 1411, remap: 54, unmap: 12 },
      splits: 13,
      keeps: 0,
      mappings: 1412,
      traceFnv1a64: 'a596e01a03b525eb',
      stateFnv1a64: '63a7a7e45c0ccbd6',
      largest: { addr: '0x102e32000', range: '0x40000', obj: 918, offset: '0xe7000' },
      va: {
        from: '0x100000000',
        to: '0x200000000',
        mappedBytes: 180903936,
        freeBytes: 4114063360,
        holes: 1369,
        largestFree: 23678976,
        fragmentation: 0.9942,
      },
      kernel: { file: 'vmbind-seed1-ops2000.trace', matches: true },
    })
  })

  it('--trace --json prints the trace, one object per request, then the summary object', () => {
    const r = drmsim('vmbind', '--ops', '2000', '--trace', '--json')
    expect(r.code).toBe(0)
    const out = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(out).toHaveLength(2001)
    expect(out.slice(0, 2000).map((o) => o.req)).toEqual([...Array(2000).keys()])
    expect(out[0]).toEqual({
      req: 0,
      op: 'map',
      addr: '0x1eec67000',
      range: '0x1f000',
      obj: 0x10c,
      offset: '0xb9000',
      steps: [{ kind: 'map', addr: '0x1eec67000', range: '0x1f000', obj: 0x10c, offset: '0xb9000' }],
    })
    expect(out[7]).toEqual({ req: 7, op: 'unmap', addr: '0x1be0f5000', range: '0x2000', steps: [] })
    // The trace's steps, all of them, in the JSON.
    const trace = readFileSync(golden, 'utf8').split('\n')
    const remap = trace.findIndex((l) => l.startsWith('op remap'))
    const req = Number(
      trace
        .slice(0, remap)
        .filter((l) => l.startsWith('req '))
        .at(-1)!
        .split(' ')[1],
    )
    expect(out[req].steps.find((s: { kind: string }) => s.kind === 'remap')).toEqual({
      kind: 'remap',
      addr: '0x11c2f3000',
      range: '0x40000',
      keep: false,
      prev: null,
      next: { addr: '0x11c307000', range: '0x2c000', obj: 0x33c, offset: '0xf9000' },
    })
    expect(out.reduce((n, o) => n + (o.steps?.length ?? 0), 0)).toBe(1411 + 54 + 12)
    expect(out[2000]).toMatchObject({ requests: 2000, traceFnv1a64: 'a596e01a03b525eb' })
  })

  it('--bench prints the whole summary, trace hash included (from a second, untimed run), and the time per request', () => {
    const r = drmsim('vmbind', '--ops', '2000', '--bench', '--machine', '--engine', 'reference')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^requests 2000\nops map=1411 remap=54 unmap=12\nmappings 1412\ntrace_fnv1a64 a596e01a03b525eb\nstate_fnv1a64 63a7a7e45c0ccbd6\nbench_ns_per_request \d+(\.\d)?\n$/,
    )
    const human = drmsim('vmbind', '--ops', '2000', '--bench')
    expect(human.stdout).toMatch(
      /\nbench {5}\d+(\.\d)? ns per request \(the request loop alone, in a run that hashes nothing\)\n/,
    )
    expect(human.stdout).toMatch(/\nkernel {4}matches the kernel's recorded result/)
  })

  it.each([
    [['vmbind', '--ops', '-1'], /--ops/],
    [['vmbind', '--ops', '1.5'], /--ops/],
    [['vmbind', '--window', '0'], /--window/],
    [['vmbind', '--map-percent', '101'], /--map-percent/],
    [['vmbind', '--seed', '18446744073709551616'], /--seed/],
    [['vmbind', '--engine', 'gpu'], /--engine/],
    [['vmbind', '--trace', '--bench'], /exclude/],
    [['vmbind', '--machine', '--json'], /--machine and --json exclude each other/],
    [['vmbind', '--stats', 'x.csv'], /--stats needs --stats-every/],
    [['vmbind', '--stats-every', '0'], /--stats-every/],
    [['vmbind', '--stats-every', '5', '--stats', 'x.txt'], /--stats: cannot tell the format of x\.txt/],
    [['vmbind', '--stats-every', '5', '--dump-mappings', '-'], /cannot both go to stdout/],
    [
      ['vmbind', '--dump-mappings', '/nonexistent/dir/m.csv'],
      /--dump-mappings: cannot write \/nonexistent\/dir\/m\.csv: ENOENT/,
    ],
    [['vmbind', '--from', '0x1000'], /give --svg too/],
    [['vmbind', '--svg', 'x.svg', '--from', '0x2000', '--to', '0x1000'], /--from 0x2000 must be below --to 0x1000/],
    [['vmbind', '--svg', 'x.svg', '--to', '0xzz'], /--to/],
    [['vmbind', '--bogus'], /unknown option '--bogus'/],
    [['scenario', '--all', 'cursor-fragmentation'], /--all runs every scenario/],
    [['scenario', '--all', '--svg', 'x.svg'], /--svg draws one scenario/],
    [['scenario', '--all', '--plot', 'x.svg'], /--plot draws one scenario/],
    [['frobnicate'], /unknown command/],
  ])('bad usage %j exits 2 and says why in one line', (args, why) => {
    const r = drmsim(...args)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(why)
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(r.stdout).toBe('')
  })

  it('a window above the VA space exits 1 with the errno', () => {
    const r = drmsim('vmbind', '--window', String(2 ** 40))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/EINVAL: vmbind: window/)
  })

  it('--svg to a path that cannot be written: the summary, then one line naming the path and errno, exit 2', () => {
    for (const format of ['--machine', '--json']) {
      const r = drmsim('vmbind', '--ops', '1000', format, '--svg', '/nonexistent/dir/x.svg')
      expect(r.code).toBe(2)
      expect(r.stdout).toMatch(
        format === '--machine' ? /^requests 1000\n[\s\S]*state_fnv1a64 [0-9a-f]{16}\n$/ : /^\{.*\}\n$/,
      )
      expect(r.stderr).toBe('drmsim: --svg: cannot write /nonexistent/dir/x.svg: ENOENT (no such file or directory)\n')
    }
    const plain = drmsim('vmbind', '--ops', '1000', '--svg', '/nonexistent/dir/x.svg')
    expect(plain.code).toBe(2)
    expect(plain.stdout).toMatch(/^ran {7}vmbind, 1,000 requests[\s\S]*\nkernel {4}/)
    const s = drmsim('scenario', 'cursor-fragmentation', '--svg', '/nonexistent/dir/x.svg')
    expect(s.code).toBe(2)
    expect(s.stdout).toMatch(/^outcome /m)
    expect(s.stderr).toBe('drmsim: --svg: cannot write /nonexistent/dir/x.svg: ENOENT (no such file or directory)\n')
  })

  it('--help describes every option', () => {
    const r = drmsim('vmbind', '--help')
    expect(r.code).toBe(0)
    for (const opt of [
      '--seed',
      '--ops',
      '--window',
      '--max-pages',
      '--objects',
      '--map-percent',
      '--trace',
      '--engine',
      '--bench',
      '--json',
      '--machine',
      '--stats-every',
      '--stats',
      '--dump-mappings',
      '--svg',
      '--from',
      '--to',
    ]) {
      expect(r.stdout).toContain(opt)
    }
    // The parameters with a recorded kernel result, and what req N means.
    expect(r.stdout).toContain('and whether the kernel recorded the same result for these parameters, as it did for:\n')
    expect(r.stdout).toContain(
      '  drmsim vmbind --seed 9 --ops 200000 --window 4096 --max-pages 16 --objects 4 --map-percent 60\n',
    )
    expect(r.stdout).toMatch(
      /`req N`\s+in traces, replays, diffs and time series is a request's index, counting from 0/,
    )
  })
})

describe('a reader that stops early', () => {
  // `drmsim ... | head -1`: the pipe closes under the writer; the command ends
  // quietly with 0, as other command-line tools do, instead of an EPIPE stack trace.
  it.each([['vmbind', '--ops', '20000', '--trace'], ['help'], ['replay', '--help']])(
    'drmsim %s ... | head -1 prints one line, no error, exit 0',
    (...args) => {
      const command = `set -o pipefail; "${process.execPath}" "${bin}" ${args.join(' ')} | head -1`
      const r = spawnSync('bash', ['-c', command], { encoding: 'utf8' })
      expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1)
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
    },
  )
})

describe('drmsim: each command module is loaded when needed', () => {
  // A preload that names, at exit, the command modules the run loaded.
  const preload = path.join(__dirname, 'fixtures', 'loaded-commands.cjs')
  const loaded = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--require', preload, bin, ...args], { encoding: 'utf8' })
    return { code: r.status, commands: r.stderr.trim().split('\n').at(-1) }
  }
  const all = 'diff,import,merge,replay,scenario,sweep,vmbind'

  it('a command loads its own module alone; the help and an unknown name load them all', () => {
    expect(loaded('merge', '--help')).toEqual({ code: 0, commands: 'merge' })
    expect(loaded('vmbind', '--ops', '10', '--machine')).toEqual({ code: 0, commands: 'vmbind' })
    expect(loaded('--help')).toEqual({ code: 0, commands: all })
    expect(loaded('help', 'sweep')).toEqual({ code: 0, commands: all })
    expect(loaded('nonsense')).toEqual({ code: 2, commands: all })
  })

  it('the help lists every command, in the same order as before', () => {
    const names = drmsim('--help')
      .stdout.split('\n')
      .filter((l) => /^ {2}[a-z]+ /.test(l))
      .map((l) => l.trim().split(' ')[0])
    expect(names).toEqual(['vmbind', 'replay', 'diff', 'scenario', 'import', 'sweep', 'merge', 'help'])
  })
})
