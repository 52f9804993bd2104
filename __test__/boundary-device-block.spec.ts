// The device's block entry points (native/napi/device_block.rs): lock, unlock
// and validate reading their arguments from a per-thread block instead of
// Node-API arguments. They must answer, refuse and throw exactly as the calls
// with arguments (device_fast.rs) do; the block survives JavaScript detaching
// its ArrayBuffer; and the public API keeps its results on either path. Also
// the placement encoding that feeds them (memory-types.ts `encodePlaces`):
// each field read once, in order, and a mutated placement array re-read.
import { describe, expect, it } from 'vitest'
import { Device, type Place } from '../lib/index.js'
import { loadBinding } from '../lib/native/binding.js'
import { thrown } from './errno.js'

/** Two native devices, each with one 1 MiB object (id 1), the fast calls and views on the block. */
function setup() {
  const binding = loadBinding()
  const make = () => {
    const dev = new binding.NativeDevice(0, 64n << 20n, 256n << 20n, undefined)
    dev.createObject(1, 1n << 20n, 0, 1)
    return { dev, resv: dev.objectInfo(1).resv, id: dev.fastId() }
  }
  const calls = binding.deviceFastCalls()
  const block = calls.block
  if (block === null) throw new Error('this runtime gives no argument block')
  return {
    a: make(),
    b: make(),
    calls,
    slots: new Float64Array(block, 0, 8),
    words: new BigUint64Array(block, 0, 8),
    places: new Uint32Array(block, 64, 48),
    out: new Float64Array(4),
  }
}

describe('the device block entry points (native/napi/device_block.rs)', () => {
  it('lock, validate and unlock as the calls with arguments do, on the device each call names', () => {
    const { a, b, calls, slots, words, places } = setup()
    slots.set([a.id, 0, a.resv, 0, 0])
    expect(calls.blockLock()).toBe(0)
    expect([slots[5], slots[6]]).toEqual([0, 0])
    expect(a.dev.resvInfo(a.resv).locked).toBe(true)
    // The same resv again, as a trylock: EBUSY (3) in the result slot, as lock() reports it.
    const again = a.dev.lock(0, a.resv, 0, 2)
    slots.set([a.id, 0, a.resv, 0, 2])
    expect(calls.blockLock()).toBe(0)
    expect(['ok', 'EDEADLK', 'EALREADY', 'EBUSY', 'blocked'][slots[5]!]).toBe(again.result)
    places.set([3, 0, 0]) // VRAM, no window
    slots.set([a.id, 0, 1, 0, 3])
    expect(calls.blockValidate()).toBe(0)
    expect([slots[5], slots[6], words[7]]).toEqual([1, 0, 1n << 20n])
    expect(a.dev.objectInfo(1).domain).toBe(3)
    // The other device, right after: its own object, untouched until now.
    expect(b.dev.objectInfo(1).domain).not.toBe(3)
    slots.set([b.id, 0, b.resv, 0, 0])
    expect(calls.blockLock()).toBe(0)
    places.set([2, 0, 0, 3, 0, 0]) // GTT, else VRAM
    slots.set([b.id, 0, 1, 0, 6])
    expect(calls.blockValidate()).toBe(0)
    expect(b.dev.objectInfo(1).domain).toBe(2)
    slots.set([b.id, 0, b.resv])
    expect(calls.blockUnlock()).toBe(0)
    slots.set([a.id, 0, a.resv])
    expect(calls.blockUnlock()).toBe(0)
    // Unlocking again is a violation the engine records: the count answered says so.
    expect(calls.blockUnlock()).toBe(1)
    expect(a.dev.takeViolations()[0]?.kind).toBeTypeOf('string')
    // A validate without the lock: refused and recorded, as through the call with arguments.
    places.set([2, 0, 0])
    slots.set([a.id, 0, 1, 0, 3])
    expect(thrown(() => calls.blockValidate()).code).toBe('EINVAL')
    expect(a.dev.takeViolations().length).toBe(1)
  })

  it('refuse what the calls with arguments refuse, in the same words', () => {
    const { a, calls, slots, places, out } = setup()
    const same = (block: () => void, args: () => void) => {
      const x = thrown(block)
      const y = thrown(args)
      expect(x.code).toBe('EINVAL')
      expect([x.code, x.message]).toEqual([y.code, y.message])
    }
    for (const [what, v] of [
      ['device', a.id + 1000],
      ['device', -1],
      ['thread', 0.5],
      ['thread', 2 ** 32],
      ['resv', Number.NaN],
      ['resv', 999],
    ] as const) {
      const args = [a.id, 0, a.resv] as [number, number, number]
      args[['device', 'thread', 'resv'].indexOf(what)] = v
      slots.set(args)
      same(
        () => calls.blockUnlock(),
        () => calls.unlock(...args),
      )
    }
    slots.set([a.id, 0, a.resv, 0, 3])
    same(
      () => calls.blockLock(),
      () => calls.lock(a.id, 0, a.resv, 0, 3, out),
    )
    slots.set([a.id, 0, a.resv, 0, 0])
    expect(calls.blockLock()).toBe(0)
    const domain = a.dev.objectInfo(1).domain
    // Place words: a count the block cannot hold, a length not a multiple of three, an unknown domain, flag
    // or window. The call with arguments is given an array as long as the block's.
    const cases: [number, number[]][] = [
      [49, []],
      [2, [3, 0]],
      [3, [0x77, 0, 0]],
      [3, [3 | (0x40 << 8), 0, 0]],
      [3, [3, 5, 5]],
    ]
    for (const [n, words] of cases) {
      places.fill(0)
      places.set(words)
      slots.set([a.id, 0, 1, 0, n])
      const copy = new Uint32Array(48)
      copy.set(words)
      same(
        () => calls.blockValidate(),
        () => calls.validate(a.id, 0, 1, copy, n, out),
      )
    }
    expect(a.dev.objectInfo(1).domain).toBe(domain)
  })

  it('keep one block per thread, and the public API its results when JavaScript detaches it', () => {
    const binding = loadBinding()
    const block = binding.deviceFastCalls().block
    expect(block).not.toBeNull()
    expect(binding.deviceFastCalls().block).toBe(block)
    const step = () => {
      const dev = new Device({ engine: 'native', memory: { vram: 2n << 20n, gtt: 8n << 20n } })
      const objs = [1, 2, 3].map(() => dev.createObject({ size: 1n << 20n }))
      return objs.map((o) => {
        o.resv.lock()
        const r = dev.validate(o, [{ domain: 'vram' }, { domain: 'gtt', fallback: true }])
        o.resv.unlock()
        return r
      })
    }
    const before = step()
    expect(before.map((r) => r.evictions)).toEqual([0, 0, 1])
    // Detached by a transfer: its views read nothing, and the calls fall back to their arguments.
    structuredClone(block, { transfer: [block!] })
    expect(step()).toEqual(before)
  })
})

describe.each(['native', 'reference'] as const)('encodePlaces on the %s engine', (engine) => {
  const setup = () => {
    const dev = new Device({ engine, memory: { vram: 64n << 20n, gtt: 64n << 20n } })
    const obj = dev.createObject({ size: 1n << 20n })
    obj.resv.lock()
    return { dev, obj }
  }

  it('reads each field of a place once, in order, each checked before the next', () => {
    const { dev, obj } = setup()
    const reads: string[] = []
    const fields = { domain: 'gtt', fpfn: 0, lpfn: 0, contiguous: false, topDown: false } as Record<string, unknown>
    const place = new Proxy(fields, {
      get(t, k) {
        reads.push(String(k))
        return t[k as string]
      },
    })
    expect(dev.validate(obj, [place as unknown as Place]).moved).toBe(true)
    expect(reads).toEqual(['contiguous', 'topDown', 'temporary', 'desired', 'fallback', 'domain', 'fpfn', 'lpfn'])
    // A bad flag stops the reads there, with the field named.
    reads.length = 0
    fields.desired = 1
    const e = thrown(() => dev.validate(obj, [place as unknown as Place]))
    expect([e.code, e.message]).toEqual(['EINVAL', 'EINVAL: place 0: desired must be a boolean, got number 1'])
    expect(reads).toEqual(['contiguous', 'topDown', 'temporary', 'desired'])
  })

  it('reads a placement array again on every validate (a mutated array gives its new places)', () => {
    const { dev, obj } = setup()
    const placement: Place[] = [{ domain: 'vram' }]
    dev.validate(obj, placement)
    expect(dev.resource(obj)?.domain).toBe('vram')
    placement[0] = { domain: 'gtt' }
    expect(dev.validate(obj, placement).moved).toBe(true)
    expect(dev.resource(obj)?.domain).toBe('gtt')
    // The same place object, changed in place.
    const place: Place = { domain: 'vram' }
    dev.validate(obj, [place])
    place.domain = 'gtt'
    place.contiguous = true
    expect(dev.validate(obj, [place]).moved).toBe(true)
    expect(dev.resource(obj)).toMatchObject({ domain: 'gtt', contiguous: true })
    // Longer than the native block holds (16 places): the same answer through the other path.
    const long: Place[] = [
      ...Array.from({ length: 20 }, () => ({ domain: 'vram', fpfn: 1, lpfn: 2 })),
      { domain: 'system' },
    ]
    expect(dev.validate(obj, long).moved).toBe(true)
    expect(dev.resource(obj)?.domain).toBe('system')
  })
})
