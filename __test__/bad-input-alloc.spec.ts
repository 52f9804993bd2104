// Bad input to the range allocators (drm_mm, drm_buddy), case by case: each
// gets a DrmError with the kernel's errno name and leaves the state as it was.
import { describe } from 'vitest'
import { BuddyAllocator, RangeAllocator } from '../lib/index.js'
import { bad, type DevCase, outsideVaSpace, U } from './bad-input.js'

const allocCases: DevCase[] = [
  // RangeAllocator (drm_mm)
  ['new RangeAllocator()', 'EINVAL', () => new RangeAllocator(bad(undefined))],
  ['new RangeAllocator(null)', 'EINVAL', () => new RangeAllocator(bad(null))],
  ['RangeAllocator with a number size', 'EINVAL', (w) => new RangeAllocator({ size: bad(4096), engine: w.engine })],
  ['RangeAllocator with engine 1n', 'EINVAL', () => new RangeAllocator({ size: U, engine: bad(1n) })],
  [
    'RangeAllocator with a symbol engine',
    'EINVAL',
    () => new RangeAllocator({ size: U, engine: bad(Symbol('native')) }),
  ],
  ['mm.insert(null)', 'EINVAL', (w) => w.mm.insert(bad(null))],
  ['mm.insert with range: null', 'EINVAL', (w) => w.mm.insert({ size: U, range: bad(null) })],
  ['mm.insert with a number size', 'EINVAL', (w) => w.mm.insert({ size: bad(4096) })],
  ['mm.insert with a fractional alignment', 'EINVAL', (w) => w.mm.insert({ size: U, alignment: bad(1.5) })],
  ['mm.insert with a number range.start', 'EINVAL', (w) => w.mm.insert({ size: U, range: { start: bad(0), end: U } })],
  ['mm.insert with an unknown mode', 'EINVAL', (w) => w.mm.insert({ size: U, mode: bad('first') })],
  ['mm.insert with a number mode', 'EINVAL', (w) => w.mm.insert({ size: U, mode: bad(1) })],
  ['mm.insert that does not fit', 'ENOSPC', (w) => w.mm.insert({ size: 1n << 20n })],
  ['mm.reserve(null)', 'EINVAL', (w) => w.mm.reserve(bad(null))],
  ['mm.reserve with a fractional start', 'EINVAL', (w) => w.mm.reserve({ start: bad(1.5), size: U })],
  ['mm.reserve over a node', 'ENOSPC', (w) => w.mm.reserve({ start: w.node.start, size: U })],
  ['mm.remove(5)', 'EINVAL', (w) => w.mm.remove(bad(5))],
  ['mm.remove of a Proxy of a node', 'EINVAL', (w) => w.mm.remove(new Proxy(w.node, {}))],
  ['mm.nodeAt(0)', 'EINVAL', (w) => w.mm.nodeAt(bad(0))],
  ['mm.scan(null)', 'EINVAL', (w) => w.mm.scan(bad(null))],
  ['mm.scan with range: null', 'EINVAL', (w) => w.mm.scan({ size: U, range: bad(null) })],
  ["mm.scan with mode 'evict'", 'EINVAL', (w) => w.mm.scan({ size: U, mode: bad('evict') })],
  ['scan.run(5)', 'EINVAL', (w) => w.mm.scan({ size: U }).run(bad(5))],
  ['scan.add of a Proxy of a node', 'EINVAL', (w) => w.mm.scan({ size: U }).add(new Proxy(w.node, {}))],
  // Colours and replace
  [
    'RangeAllocator with colorAdjust: null',
    'EINVAL',
    (w) => new RangeAllocator({ size: U, colorAdjust: bad(null), engine: w.engine }),
  ],
  [
    'RangeAllocator with a fractional guard',
    'EINVAL',
    (w) => new RangeAllocator({ size: U, colorAdjust: { guard: bad(1.5) }, engine: w.engine }),
  ],
  [
    'RangeAllocator with a hook on native',
    'EINVAL',
    () => new RangeAllocator({ size: U, colorAdjust: (_b, _a, _c, start, end) => ({ start, end }), engine: 'native' }),
  ],
  ['mm.insert with a negative color', 'EINVAL', (w) => w.mm.insert({ size: U, color: bad(-1n) })],
  ['mm.replace(5)', 'EINVAL', (w) => w.mm.replace(bad(5))],
  ['mm.replace with options null', 'EINVAL', (w) => w.mm.replace(w.node, bad(null))],
  ['mm.replace with a number color', 'EINVAL', (w) => w.mm.replace(w.node, { color: bad(2) })],
  ['mm.scan with a number color', 'EINVAL', (w) => w.mm.scan({ size: U, color: bad(1) })],
  // BuddyAllocator (drm_buddy)
  ['new BuddyAllocator()', 'EINVAL', () => new BuddyAllocator(bad(undefined))],
  ['BuddyAllocator with a string size', 'EINVAL', () => new BuddyAllocator({ size: bad('1048576') })],
  ['BuddyAllocator with engine 1n', 'EINVAL', () => new BuddyAllocator({ size: U, engine: bad(1n) })],
  ['buddy.alloc(null)', 'EINVAL', (w) => w.buddy.alloc(bad(null))],
  ['buddy.alloc with range: null', 'EINVAL', (w) => w.buddy.alloc({ size: U, range: bad(null) })],
  ["buddy.alloc with topdown 'yes'", 'EINVAL', (w) => w.buddy.alloc({ size: U, topdown: bad('yes') })],
  ['buddy.alloc with a number minBlockSize', 'EINVAL', (w) => w.buddy.alloc({ size: U, minBlockSize: bad(4096) })],
  ['buddy.alloc that does not fit', 'ENOSPC', (w) => w.buddy.alloc({ size: 1n << 20n })],
  ['buddy.free(5)', 'EINVAL', (w) => w.buddy.free(bad(5))],
  ['buddy.free of a list with a bad element, all or nothing', 'EINVAL', (w) => w.buddy.free([w.block, bad(5)])],
  ['buddy.free of a Proxy of a block', 'EINVAL', (w) => w.buddy.free(new Proxy(w.block, {}))],
  ['buddy.trim with a number size', 'EINVAL', (w) => w.buddy.trim(w.block, bad(4096))],
  ['buddy.blockAt(NaN)', 'EINVAL', (w) => w.buddy.blockAt(bad(NaN))],
  ["buddy.alloc with clear 'yes'", 'EINVAL', (w) => w.buddy.alloc({ size: U, clear: bad('yes') })],
  ['buddy.free with cleared 1', 'EINVAL', (w) => w.buddy.free(w.block, { cleared: bad(1) })],
  ['buddy.free with options null', 'EINVAL', (w) => w.buddy.free(w.block, bad(null))],
  ["buddy.resetClear('no')", 'EINVAL', (w) => w.buddy.resetClear(bad('no'))],
]

describe('bad input', () => {
  outsideVaSpace(allocCases, 35)
})
