/**
 * The kernel's recorded results for the canonical vmbind workload: for each
 * file of `__test__/golden/` in the drmsim repository (which the package does
 * not ship), the parameters that print it and the summary the kernel's own
 * split/merge code printed for them. `drmsim vmbind` says whether a run
 * matches the one recorded for its parameters. Written by hand from those
 * files; `__test__/cli-golden.spec.ts` checks it against them, so the two
 * cannot drift apart.
 */
import { defaultParams, type VmbindParams } from './vmbind.js'

export interface KernelResult {
  /** The golden file it comes from (`__test__/golden/` in the repository). */
  file: string
  params: Readonly<VmbindParams>
  /** The summary lines, each ending in a newline (`drmsim vmbind --machine`). */
  summary: string
}

const recorded = (
  file: string,
  params: Partial<VmbindParams>,
  ops: [number, number, number],
  mappings: number,
  trace: string,
  state: string,
): KernelResult => {
  const p: VmbindParams = { ...defaultParams, ...params }
  return Object.freeze({
    file,
    params: Object.freeze(p),
    summary:
      `requests ${p.ops}\nops map=${ops[0]} remap=${ops[1]} unmap=${ops[2]}\nmappings ${mappings}\n` +
      `trace_fnv1a64 ${trace}\nstate_fnv1a64 ${state}\n`,
  })
}

export const KERNEL_RESULTS: readonly KernelResult[] = Object.freeze([
  recorded(
    'vmbind-seed1-ops2000.trace',
    { seed: 1n, ops: 2000 },
    [1411, 54, 12],
    1412,
    'a596e01a03b525eb',
    '63a7a7e45c0ccbd6',
  ),
  recorded(
    'vmbind-seed1-ops100000.summary',
    { seed: 1n, ops: 100_000 },
    [70285, 81192, 42619],
    39450,
    '8b5ef10ad715a862',
    'b023be2cf16302c6',
  ),
  recorded(
    'vmbind-seed2-ops100000.summary',
    { seed: 2n, ops: 100_000 },
    [70188, 80967, 42700],
    39247,
    '546178e08a39e48d',
    '64f54f3bb82e0695',
  ),
  recorded(
    'vmbind-seed1-ops1000000.summary',
    { seed: 1n, ops: 1_000_000 },
    [700540, 1129526, 804503],
    43685,
    'd9feaf137cc8aa87',
    '3aa87881ed928ace',
  ),
  recorded(
    'vmbind-seed1-w16777216-l512-ops1000000.summary',
    { seed: 1n, ops: 1_000_000, window: 16_777_216, maxPages: 512 },
    [700540, 1144054, 764603],
    91376,
    '610e27a3a83da86a',
    'ba30525aba2c4bd7',
  ),
  recorded(
    'vmbind-seed9-w4096-l16-k4-p60-ops200000.summary',
    { seed: 9n, ops: 200_000, window: 4096, maxPages: 16, objects: 4, mapPercent: 60 },
    [120051, 169431, 139304],
    510,
    'd866d6bf932e2e33',
    '2ae97ee12c055202',
  ),
])

const sameParams = (a: VmbindParams, b: VmbindParams): boolean =>
  a.seed === b.seed &&
  a.ops === b.ops &&
  a.window === b.window &&
  a.maxPages === b.maxPages &&
  a.objects === b.objects &&
  a.mapPercent === b.mapPercent

/** The kernel's recorded result for exactly these parameters, if there is one. */
export function kernelResult(params: VmbindParams): KernelResult | undefined {
  return KERNEL_RESULTS.find((k) => sameParams(k.params, params))
}

/** The `drmsim vmbind` options that give `params` (defaults left out). */
export function vmbindArgs(params: VmbindParams): string {
  const args = [`--seed ${params.seed}`, `--ops ${params.ops}`]
  if (params.window !== defaultParams.window) args.push(`--window ${params.window}`)
  if (params.maxPages !== defaultParams.maxPages) args.push(`--max-pages ${params.maxPages}`)
  if (params.objects !== defaultParams.objects) args.push(`--objects ${params.objects}`)
  if (params.mapPercent !== defaultParams.mapPercent) args.push(`--map-percent ${params.mapPercent}`)
  return args.join(' ')
}

/**
 * The parameters a golden file's name encodes (`vmbind-seed9-w4096-l16-k4-p60-ops200000.summary`:
 * seed, window, max-pages, objects, map-percent, ops), or undefined for any other name.
 */
export function paramsFromGoldenName(name: string): VmbindParams | undefined {
  const m = /^vmbind-seed(\d+)(?:-w(\d+))?(?:-l(\d+))?(?:-k(\d+))?(?:-p(\d+))?-ops(\d+)\.(?:trace|summary)$/.exec(name)
  if (!m) return undefined
  const n = (text: string | undefined, fallback: number): number => (text === undefined ? fallback : Number(text))
  return {
    seed: BigInt(m[1]),
    window: n(m[2], defaultParams.window),
    maxPages: n(m[3], defaultParams.maxPages),
    objects: n(m[4], defaultParams.objects),
    mapPercent: n(m[5], defaultParams.mapPercent),
    ops: Number(m[6]),
  }
}
