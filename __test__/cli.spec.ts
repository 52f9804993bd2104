// The drmsim command line, run as a user runs it (the built dist/lib/cli.js).
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

  it('--json prints one object with numbers and hashes', () => {
    const r = drmsim('vmbind', '--ops', '2000', '--json')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({
      engine: 'native',
      requests: 2000,
      ops: { map: 1411, remap: 54, unmap: 12 },
      mappings: 1412,
      traceFnv1a64: 'a596e01a03b525eb',
      stateFnv1a64: '63a7a7e45c0ccbd6',
    })
  })

  it('--bench prints the summary without the trace hash, and the time per request', () => {
    const r = drmsim('vmbind', '--ops', '2000', '--bench', '--engine', 'reference')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^requests 2000\nops map=1411 remap=54 unmap=12\nmappings 1412\nstate_fnv1a64 63a7a7e45c0ccbd6\nbench_ns_per_request \d+(\.\d)?\n$/,
    )
  })

  it.each([
    [['vmbind', '--ops', '-1'], /--ops/],
    [['vmbind', '--ops', '1.5'], /--ops/],
    [['vmbind', '--window', '0'], /--window/],
    [['vmbind', '--map-percent', '101'], /--map-percent/],
    [['vmbind', '--seed', '18446744073709551616'], /--seed/],
    [['vmbind', '--engine', 'gpu'], /--engine/],
    [['vmbind', '--trace', '--bench'], /exclude/],
    [['frobnicate'], /unknown command/],
  ])('bad usage %j exits 2 and says why', (args, why) => {
    const r = drmsim(...args)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(why)
    expect(r.stdout).toBe('')
  })

  it('a window above the VA space exits 1 with the errno', () => {
    const r = drmsim('vmbind', '--window', String(2 ** 40))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/EINVAL: vmbind: window/)
  })

  it('--svg to a path that cannot be written: the summary, then one line naming the path and errno, exit 2', () => {
    const plain = drmsim('vmbind', '--ops', '1000')
    for (const [args, stdout] of [
      [[], plain.stdout],
      [['--json'], drmsim('vmbind', '--ops', '1000', '--json').stdout],
    ] as const) {
      const r = drmsim('vmbind', '--ops', '1000', ...args, '--svg', '/nonexistent/dir/x.svg')
      expect(r.code).toBe(2)
      expect(r.stdout).toBe(stdout)
      expect(r.stderr).toBe('drmsim: --svg: cannot write /nonexistent/dir/x.svg: ENOENT (no such file or directory)\n')
    }
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
    ]) {
      expect(r.stdout).toContain(opt)
    }
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
