/**
 * Ports of the kernel's drm_mm KUnit cases (drivers/gpu/drm/tests/drm_mm_test.c,
 * the colour and replace cases of its longer, older version) on both engines,
 * through the public API. The colour adjustment is the kernel test's
 * separate_adjacent_colors (one free byte between nodes of different colours):
 * `{ guard: 1n }` on both engines, and the same rule as a JavaScript hook on the
 * reference engine, which must place every node exactly where the guard does.
 *
 * Ported here: color (every insert mode, with alignment), color_evict and
 * color_evict_range (scans with a colour, drm_mm_scan_color_evict, then the
 * EVICT insert lands in the hole), replace (drm_mm_replace_node in every mode),
 * insert_range with colours.
 * Ported in mm.spec.ts: init, debug, align32/align64, lowest/highest, align,
 * reserve, insert, insert_range, evict/evict_range, topdown/bottomup.
 * Not ported: frag (asserts that insert time does not grow more than 4x: a
 * timing test, and speed goes to bench/); the kernel's random-order stress
 * repetitions beyond the few seeds used here.
 */

import { describe, expect, it } from 'vitest'
import {
  type ColorAdjustFn,
  type InsertMode,
  type MmNode,
  RangeAllocator,
  type RangeAllocatorOptions,
} from '../lib/index.js'
import { errnoOf } from './errno.js'

const MODES: InsertMode[] = ['best', 'low', 'high', 'evict']

/** The kernel test's separate_adjacent_colors, as a hook. */
const separate: ColorAdjustFn = (before, after, color, start, end) => ({
  start: before !== null && before.color !== color ? start + 1n : start,
  end: after !== null && after.color !== color ? end - 1n : end,
})

/** True when some node touches a node of another colour (the kernel's colors_abutt). */
function colorsAbutt(mm: RangeAllocator): boolean {
  const ns = mm.nodes()
  return ns.some((n, i) => i > 0 && ns[i - 1].end === n.start && ns[i - 1].color !== n.color)
}

const layout = (mm: RangeAllocator) => mm.nodes().map((n) => [n.start, n.size, n.color])

type Setup = { name: string; engine: 'native' | 'reference'; adjust: RangeAllocatorOptions['colorAdjust'] }
const SETUPS: Setup[] = [
  { name: 'native, guard', engine: 'native', adjust: { guard: 1n } },
  { name: 'reference, guard', engine: 'reference', adjust: { guard: 1n } },
  { name: 'reference, hook', engine: 'reference', adjust: separate },
]

describe.each(SETUPS)('drm_mm KUnit ports ($name)', ({ engine, adjust }) => {
  const make = (size: bigint, start = 0n) => new RangeAllocator({ start, size, engine, colorAdjust: adjust })

  it('color: nodes of different colours never touch, in every mode, aligned', () => {
    const count = 40n
    for (const mode of MODES) {
      const mm = make(count * count * 4n)
      // Sizes 1..count, colour = size, alignment = size: nothing may abut.
      for (let n = 1n; n <= count; n++) {
        const node = mm.insert({ size: n, alignment: n, color: n, mode })
        expect(node.color).toBe(n)
        expect(node.start % n, `${mode} size ${n}`).toBe(0n)
      }
      expect(colorsAbutt(mm), mode).toBe(false)
      // Same colour: nodes may pack tightly.
      const tight = make(64n)
      for (let i = 0; i < 8; i++) tight.insert({ size: 8n, color: 7n, mode })
      expect(tight.stats().free).toBe(0n)
    }
  })

  it('color: guard placement by hand', () => {
    const mm = make(100n)
    expect(mm.insert({ size: 10n, color: 1n, mode: 'low' }).start).toBe(0n)
    expect(mm.insert({ size: 10n, color: 2n, mode: 'low' }).start).toBe(11n)
    expect(mm.insert({ size: 10n, color: 2n, mode: 'low' }).start).toBe(21n)
    expect(mm.insert({ size: 10n, color: 3n, mode: 'high' }).start).toBe(90n)
    expect(mm.insert({ size: 10n, color: 1n, mode: 'high' }).start).toBe(79n)
    expect(errnoOf(() => mm.reserve({ start: 31n, size: 5n, color: 9n }))).toBe('ENOSPC')
    expect(mm.reserve({ start: 32n, size: 5n, color: 9n }).start).toBe(32n)
    // The byte left at 31 touches colour 9 on its right: no colour fits there but 9 and 2 both.
    expect(errnoOf(() => mm.reserve({ start: 31n, size: 1n, color: 2n }))).toBe('ENOSPC')
    expect(errnoOf(() => mm.reserve({ start: 31n, size: 1n, color: 9n }))).toBe('ENOSPC')
    expect(mm.nodes()).toHaveLength(6)
  })

  for (const withRange of [false, true]) {
    it(`color_evict${withRange ? '_range' : ''}: scans count the colours; extra neighbours go too`, () => {
      const total = 64n
      const mm = make(total)
      // Single-byte nodes of colours 0..3 packed low: equal colours touch, others keep a byte.
      const colors = [0n, 0n, 1n, 2n, 2n, 2n, 3n, 0n, 1n, 1n, 3n, 3n, 2n, 0n, 0n, 1n]
      let lru: MmNode[] = []
      for (;;) {
        const color = colors[lru.length % colors.length]
        try {
          lru.push(mm.insert({ size: 1n, color, mode: 'low' }))
        } catch {
          break
        }
      }
      expect(colorsAbutt(mm)).toBe(false)
      const initial = layout(mm)
      const range = withRange ? { start: total / 4n, end: (3n * total) / 4n } : undefined
      for (let size = 1n; size <= 6n; size++) {
        for (const color of [0n, 1n, 5n]) {
          const scan = mm.scan({ size, color, range, mode: 'low' })
          const r = scan.run(lru)
          expect(r.found, `size ${size} colour ${color}`).toBe(true)
          const hit = scan.hit!
          const evicted = [...r.evict]
          for (const n of r.evict) mm.remove(n)
          for (let extra = scan.colorEvict(); extra !== null; extra = scan.colorEvict()) {
            evicted.push(extra)
            mm.remove(extra)
          }
          const node = mm.insert({ size, color, mode: 'evict', range })
          expect(node.start).toBe(hit.start)
          expect(colorsAbutt(mm)).toBe(false)
          if (range) expect(node.start >= range.start && node.end <= range.end).toBe(true)
          // Put everything back as it was.
          mm.remove(node)
          const back = new Map(evicted.map((n) => [n, mm.reserve({ start: n.start, size: n.size, color: n.color })]))
          lru = lru.map((n) => back.get(n) ?? n)
          expect(layout(mm)).toEqual(initial)
        }
      }
    })
  }

  it('replace: the new node takes the old one place in every mode', () => {
    for (const mode of MODES) {
      const mm = make(1000n)
      for (let n = 1n; n <= 20n; n++) {
        const tmp = mm.insert({ size: n, alignment: n, color: n % 3n, mode })
        const holes = mm.holes()
        const node = mm.replace(tmp)
        expect(tmp.allocated).toBe(false)
        expect(node.allocated).toBe(true)
        expect([node.start, node.size, node.color]).toEqual([tmp.start, tmp.size, tmp.color])
        expect(mm.holes()).toEqual(holes)
        expect(errnoOf(() => mm.remove(tmp))).toBe('EINVAL')
      }
      expect(mm.nodes()).toHaveLength(20)
      for (const n of mm.nodes()) mm.remove(n)
      expect(mm.holes()).toEqual([{ start: 0n, size: 1000n }])
    }
  })

  it('replace: a new colour must respect the adjustment', () => {
    const mm = make(100n)
    const a = mm.reserve({ start: 0n, size: 10n, color: 1n })
    const b = mm.reserve({ start: 10n, size: 10n, color: 1n })
    expect(errnoOf(() => mm.replace(b, { color: 2n }))).toBe('ENOSPC')
    expect(b.allocated).toBe(true)
    expect(layout(mm)).toEqual([
      [0n, 10n, 1n],
      [10n, 10n, 1n],
    ])
    mm.remove(a)
    const c = mm.replace(b, { color: 2n })
    expect([c.start, c.color, b.allocated]).toEqual([10n, 2n, false])
    expect(errnoOf(() => mm.insert({ size: 10n, color: 1n, range: { start: 0n, end: 10n } }))).toBe('ENOSPC')
    expect(mm.insert({ size: 9n, color: 1n, range: { start: 0n, end: 10n } }).start).toBe(0n)
  })

  it('insert_range: coloured nodes stay inside the range and apart', () => {
    const mm = make(4096n, 1000n)
    for (const [start, end] of [
      [1000n, 2000n],
      [1500n, 2500n],
      [3000n, 5096n],
    ] as const) {
      for (let i = 0n; ; i++) {
        let node: MmNode
        try {
          node = mm.insert({ size: 7n, color: i % 2n, range: { start, end }, mode: i % 3n === 0n ? 'high' : 'low' })
        } catch {
          expect(errnoOf(() => mm.insert({ size: 7n, color: 0n, range: { start, end }, mode: 'low' }))).toBe('ENOSPC')
          expect(errnoOf(() => mm.insert({ size: 7n, color: 1n, range: { start, end }, mode: 'low' }))).toBe('ENOSPC')
          break
        }
        expect(node.start >= start && node.end <= end).toBe(true)
      }
      expect(colorsAbutt(mm)).toBe(false)
    }
  })
})

describe('colour adjustment options', () => {
  it('the hook runs on the reference engine only; bad options are EINVAL', () => {
    expect(errnoOf(() => new RangeAllocator({ size: 10n, engine: 'native', colorAdjust: separate }))).toBe('EINVAL')
    expect(errnoOf(() => new RangeAllocator({ size: 10n, colorAdjust: { guard: -1n } }))).toBe('EINVAL')
    expect(errnoOf(() => new RangeAllocator({ size: 10n, colorAdjust: 5 as unknown as { guard: bigint } }))).toBe(
      'EINVAL',
    )
    const bad = new RangeAllocator({
      size: 10n,
      engine: 'reference',
      colorAdjust: () => ({ start: 'x' as unknown as bigint, end: 1n }),
    })
    expect(errnoOf(() => bad.insert({ size: 1n }))).toBe('EINVAL')
    expect(bad.nodes()).toHaveLength(0)
  })

  it('guard and hook place the same nodes for random requests', () => {
    let s = 7
    const rand = () => {
      s = (s * 1103515245 + 12345) & 0x7fffffff
      return s / 0x7fffffff
    }
    const a = new RangeAllocator({ size: 5000n, engine: 'native', colorAdjust: { guard: 1n } })
    const b = new RangeAllocator({ size: 5000n, engine: 'reference', colorAdjust: separate })
    const outcome = (mm: RangeAllocator, f: (mm: RangeAllocator) => unknown) => {
      try {
        return f(mm)
      } catch (e) {
        return (e as { errno: string }).errno
      }
    }
    for (let i = 0; i < 400; i++) {
      const size = BigInt(1 + Math.floor(rand() * 60))
      const color = BigInt(Math.floor(rand() * 3))
      const mode = MODES[Math.floor(rand() * 4)]
      const alignment = BigInt(Math.floor(rand() * 5))
      const pick = rand()
      if (rand() < 0.3 && a.nodes().length > 0) {
        const f = (mm: RangeAllocator) => mm.remove(mm.nodes()[Math.floor(pick * mm.nodes().length)])
        expect(outcome(a, f)).toEqual(outcome(b, f))
      } else {
        const f = (mm: RangeAllocator) => mm.insert({ size, color, mode, alignment }).start
        expect(outcome(a, f), `op ${i}`).toEqual(outcome(b, f))
      }
    }
    expect(layout(a)).toEqual(layout(b))
  })
})
