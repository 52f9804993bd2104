// The kernel's recorded results that drmsim ships (lib/workloads/golden.ts) are exactly those of
// __test__/golden/: every file there, its parameters as the README's table gives them, its summary.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { kernelLine } from '../lib/cli/vmbind.js'
import { KERNEL_RESULTS, kernelResult, paramsFromGoldenName, vmbindArgs } from '../lib/workloads/golden.js'
import { defaultParams, type VmbindParams } from '../lib/workloads/vmbind.js'

const dir = path.join(__dirname, 'golden')
const files = readdirSync(dir).filter((f) => /\.(trace|summary)$/.test(f))

/** The README's table: file → the `drmsim vmbind` arguments that print it. */
function readmeTable(): Map<string, string> {
  const rows = new Map<string, string>()
  for (const line of readFileSync(path.join(dir, 'README.md'), 'utf8').split('\n')) {
    const m = /^\| `([^`]+)` +\| `([^`]+)`/.exec(line)
    if (m) rows.set(m[1], m[2])
  }
  return rows
}

/** The parameters `drmsim vmbind` arguments give (`--trace` left aside). */
function paramsOf(args: string): VmbindParams {
  const p: VmbindParams = { ...defaultParams }
  const words = args.split(/\s+/)
  for (let i = 0; i < words.length; i++) {
    const value = words[i + 1]
    switch (words[i]) {
      case '--seed':
        p.seed = BigInt(value)
        break
      case '--ops':
        p.ops = Number(value)
        break
      case '--window':
        p.window = Number(value)
        break
      case '--max-pages':
        p.maxPages = Number(value)
        break
      case '--objects':
        p.objects = Number(value)
        break
      case '--map-percent':
        p.mapPercent = Number(value)
        break
      default:
        continue
    }
    i++
  }
  return p
}

/** The summary a golden file ends with (a trace file: its last five lines). */
const summaryOf = (file: string): string =>
  `${readFileSync(path.join(dir, file), 'utf8').trimEnd().split('\n').slice(-5).join('\n')}\n`

describe('the recorded kernel results (lib/workloads/golden.ts)', () => {
  it('name every golden file once, and nothing else', () => {
    expect(files.length).toBeGreaterThanOrEqual(6)
    expect(KERNEL_RESULTS.map((k) => k.file).sort()).toEqual([...files].sort())
  })

  it.each(files)('%s: the parameters of the README table and its name, and its summary', (file) => {
    const k = KERNEL_RESULTS.find((r) => r.file === file)!
    const args = readmeTable().get(file)
    expect(args).toBeDefined()
    expect(k.params).toEqual(paramsOf(args!))
    expect(paramsFromGoldenName(file)).toEqual(k.params)
    expect(k.summary).toBe(summaryOf(file))
    expect(kernelResult({ ...k.params })).toBe(k)
    // What `drmsim vmbind --help` lists for it gives the same parameters back.
    expect(paramsOf(vmbindArgs(k.params))).toEqual(k.params)
  })

  it('other parameters have none', () => {
    expect(kernelResult({ ...defaultParams, ops: 2001 })).toBeUndefined()
    expect(kernelResult({ ...defaultParams, seed: 3n })).toBeUndefined()
    expect(paramsFromGoldenName('vmbind-seed1.trace')).toBeUndefined()
  })
})

describe("the report's kernel line", () => {
  const k = KERNEL_RESULTS.find((r) => r.file === 'vmbind-seed1-ops100000.summary')!

  it('a matching summary', () => {
    expect(kernelLine(k.summary, k)).toBe(
      "matches the kernel's recorded result (vmbind-seed1-ops100000.summary: counts, mappings, trace and state hashes)",
    )
  })

  it('a summary that differs names each differing line and the recorded value', () => {
    const wrong = k.summary.replace('mappings 39450', 'mappings 39451').replace('8b5ef10ad715a862', '0000000000000000')
    expect(kernelLine(wrong, k)).toBe(
      "DIFFERS from the kernel's recorded result (vmbind-seed1-ops100000.summary): " +
        'mappings 39451, recorded 39450; trace_fnv1a64 0000000000000000, recorded 8b5ef10ad715a862',
    )
  })

  it('parameters without a recorded result', () => {
    expect(kernelLine(k.summary, undefined)).toBe(
      'no kernel result is recorded for these parameters (drmsim vmbind --help lists the ones that are)',
    )
  })
})
