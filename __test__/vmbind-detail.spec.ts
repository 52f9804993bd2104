// What `vmbind` says beyond the summary (splits, keeps, the mappings left, the window's holes,
// samples): counted by the native engine's Rust loop in its one run, by the reference engine's
// TypeScript loop as it goes; both must give the same details for the same parameters.
import { describe, expect, it } from 'vitest'
import { loadBinding } from '../lib/native/binding.js'
import { defaultParams, Fnv1a64, type VmbindParams } from '../lib/workloads/vmbind.js'
import { details, packedDetails, unpackMappings, type VmbindSample } from '../lib/workloads/vmbind-detail.js'
import { vmbind, type VmbindOutput } from '../lib/workloads/vmbind-run.js'

const params = (p: Partial<VmbindParams>): VmbindParams => ({ ...defaultParams, ...p })

function detailed(engine: 'native' | 'reference', p: VmbindParams, every?: number, trace: 'full' | 'hash' = 'hash') {
  const samples: VmbindSample[] = []
  const out: VmbindOutput = vmbind({
    ...p,
    engine,
    trace,
    details: true,
    samples: every === undefined ? undefined : { every, onSample: (s) => samples.push({ ...s }) },
  })
  return { out, samples }
}

/** Splits and keeps counted from the trace's lines, independently of either engine's tally. */
function fromTrace(trace: string) {
  let splits = 0
  let keeps = 0
  for (const line of trace.split('\n')) {
    if (line.startsWith('op remap ') && !line.includes('prev=- ') && !line.endsWith('next=-')) splits++
    if ((line.startsWith('op remap ') || line.startsWith('op unmap ')) && line.includes(' keep=1')) keeps++
  }
  return { splits, keeps }
}

const CASES: [string, VmbindParams, number | undefined][] = [
  ['the defaults, 3000 requests', params({ ops: 3000 }), 700],
  ['no request at all', params({ ops: 0 }), 5],
  ['one request', params({ ops: 1 }), 5],
  ['a sample after every request', params({ ops: 300, window: 64, maxPages: 16, objects: 2 }), 1],
  ['the sample interval is the run', params({ ops: 1000, seed: 3n }), 1000],
  ['the sample interval is past the run', params({ ops: 1000, seed: 4n }), 5000],
  // Requests clipped at the window's end, one object: many splits and keeps.
  [
    'a window of 16 pages, requests up to 8, one object',
    params({ ops: 5000, window: 16, maxPages: 8, objects: 1, mapPercent: 60 }),
    333,
  ],
  // Every request covers the whole window (one page): the window is all mapped or one hole.
  ['a window of one page', params({ ops: 2000, window: 1, maxPages: 1, objects: 1, mapPercent: 50 }), 100],
  ['only maps', params({ ops: 3000, window: 256, maxPages: 64, objects: 3, mapPercent: 100 }), 999],
  ['only unmaps: nothing is ever mapped', params({ ops: 2000, mapPercent: 0 }), 500],
  [
    'the dense golden parameters',
    params({ seed: 9n, ops: 20_000, window: 4096, maxPages: 16, objects: 4, mapPercent: 60 }),
    4096,
  ],
  ['no samples', params({ ops: 2000, seed: 7n }), undefined],
]

describe('vmbind details: the same on both engines', () => {
  for (const [what, p, every] of CASES) {
    it(what, () => {
      const native = detailed('native', p, every)
      const reference = detailed('reference', p, every)
      expect(native.out.summary).toBe(reference.out.summary)
      expect(native.out.details).toEqual(reference.out.details)
      // The native run leaves its details' state hash to the first read: it is the summary's.
      expect(native.out.summary).toMatch(new RegExp(`state_fnv1a64 ${native.out.details!.stateFnv1a64}\n$`))
      expect(native.samples).toEqual(reference.samples)
      const d = native.out.details!
      expect(d.mappedBytes).toBe(d.mappings.reduce((n, va) => n + va.range, 0n))
      expect(d.mappedBytes + d.freeBytes).toBe(BigInt(p.window) * 4096n) // the requests stay in the window
      if (every === undefined) return
      const last = p.ops - 1
      const want = Array.from({ length: Math.floor(p.ops / every) }, (_, i) => (i + 1) * every - 1)
      if (p.ops > 0 && want.at(-1) !== last) want.push(last)
      expect(native.samples.map((s) => s.req)).toEqual(want)
      if (p.ops > 0) {
        expect(native.samples.at(-1)).toEqual({
          req: last,
          mappings: d.mappings.length,
          map: d.map,
          remap: d.remap,
          unmap: d.unmap,
          splits: d.splits,
          keeps: d.keeps,
          mappedBytes: Number(d.mappedBytes),
        })
      }
    })
  }
})

describe('vmbind details: the native counts', () => {
  it('splits and keeps are those of the trace, and the same in every trace mode', () => {
    const p = params({ ops: 5000, window: 16, maxPages: 8, objects: 1, mapPercent: 60 })
    const full = detailed('native', p, undefined, 'full').out
    const counted = fromTrace(full.trace)
    expect(counted.splits).toBeGreaterThan(0)
    expect(counted.keeps).toBeGreaterThan(0)
    expect({ splits: full.details!.splits, keeps: full.details!.keeps }).toEqual(counted)
    const off = vmbind({ ...p, engine: 'native', trace: 'off', details: true })
    expect(off.details).toEqual(full.details)
  })

  it('the binding returns the mappings and samples only when asked, and refuses a zero interval', () => {
    const { vmbindRun } = loadBinding()
    const options = {
      seed: 1n,
      ops: 500n,
      window: 1024n,
      maxPages: 64n,
      objects: 8n,
      mapPercent: 70n,
      trace: 'off',
    }
    const bare = vmbindRun(options)
    expect(bare.mappings).toBeUndefined()
    expect(bare.samples).toBeUndefined()
    const full = vmbindRun({ ...options, details: true, sampleEvery: 100n })
    expect(full.summary).toBe(bare.summary)
    expect([full.map, full.remap, full.unmap, full.splits, full.keeps]).toEqual([
      bare.map,
      bare.remap,
      bare.unmap,
      bare.splits,
      bare.keeps,
    ])
    expect(full.summary).toContain(`ops map=${full.map} remap=${full.remap} unmap=${full.unmap}\n`)
    expect(full.mappings!.length % 4).toBe(0)
    expect(full.summary).toContain(`mappings ${full.mappings!.length / 4}\n`)
    expect(full.samples!.map((s) => s.req)).toEqual([99, 199, 299, 399, 499])
    expect(() => vmbindRun({ ...options, sampleEvery: 0n })).toThrow(/sampleEvery/)
    expect(() => vmbind({ ops: 10, samples: { every: 0, onSample: () => {} } })).toThrow(/samples.every/)
  })
})

describe('vmbind details read from the packed words', () => {
  /** Packed map requests ([obj << 32, addr, range, offset] each) of the given mappings. */
  const pack = (ms: { addr: bigint; range: bigint; obj: number; offset: bigint }[]) =>
    new BigUint64Array(ms.flatMap((m) => [BigInt(m.obj) << 32n, m.addr, m.range, m.offset]))
  const counts = { map: 1, remap: 2, unmap: 3, splits: 4, keeps: 5 }
  const p = params({ window: 256 })
  const base = 0x1_0000_0000n

  it('give what the records give: a real run, and hand-made words at the edges', () => {
    const run = loadBinding().vmbindRun({
      seed: 3n,
      ops: 3000n,
      window: 4096n,
      maxPages: 64n,
      objects: 1024n,
      mapPercent: 70n,
      trace: 'off',
      details: true,
    })
    const real = params({ seed: 3n, ops: 3000, window: 4096 })
    expect(packedDetails(run.mappings!, real, counts)).toEqual(details(unpackMappings(run.mappings!), real, counts))
    const edges = [
      { addr: 0x1000n, range: 0x1000n, obj: 0, offset: 0n }, // below the window
      { addr: base - 0x1000n, range: 0x3000n, obj: 0xffff_fffe, offset: 0xffff_ffff_ffff_f000n }, // across its start
      { addr: base + 0x5000n, range: 0x10000n, obj: 7, offset: 0x1_0000_0000n },
      { addr: base + 0x20000n, range: 0x10000n, obj: 8, offset: 0xabcn }, // as large: the lower is the largest
      { addr: base + 0xff000n, range: 0x2000n, obj: 9, offset: 1n << 63n }, // across its end
      { addr: 0xffff_ffff_f000n, range: 0x1000n, obj: 1, offset: 0n }, // at the top of the VA space
    ]
    const fast = packedDetails(pack(edges), p, counts)
    const slow = details(unpackMappings(pack(edges)), p, counts)
    expect(fast).toEqual(slow)
    expect([fast.holes, fast.largestFree]).toEqual([3, 0xcf000n])
    expect(fast.largest).toBe(fast.mappings[2])
    expect(packedDetails(pack([]), p, counts)).toEqual(details([], p, counts))
  })

  it('past 2^53 take the BigInt way and still agree', () => {
    const far = [{ addr: 1n << 60n, range: 0x1000n, obj: 3, offset: 5n }]
    expect(packedDetails(pack(far), p, counts)).toEqual(details(unpackMappings(pack(far)), p, counts))
  })

  it('Fnv1a64 hashes hex digits from u32 halves as it hashes the string', () => {
    const values = [0n, 1n, 0xfn, 0x10n, 0xffff_ffffn, 0x1_0000_0000n, (1n << 64n) - 1n, 0x1234_5678_9abc_def0n]
    let x = 0x9e37_79b9n
    for (let i = 0; i < 500; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n)
      values.push(x >> (x % 64n))
    }
    for (const v of values) {
      expect(new Fnv1a64().hex(v).value).toBe(new Fnv1a64().update(`0x${v.toString(16)}`).value)
    }
  })
})
