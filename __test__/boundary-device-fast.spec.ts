// The device's fast entry points (native/napi/device_fast.rs): lock, unlock
// and validate by device id, checked as the napi-rs methods check, and the
// violation count they answer, which lets the native core skip fetching
// violations when there are none.
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { Device } from '../lib/index.js'
import { loadBinding } from '../lib/native/binding.js'
import { thrown } from './errno.js'

/** A native device with one 1 MiB object (id 1) and its reservation; the fast calls and the device's fast id. */
function setup() {
  const binding = loadBinding()
  const dev = new binding.NativeDevice(0, 64n << 20n, 256n << 20n, undefined)
  dev.createObject(1, 1n << 20n, 0, 1)
  const resv = dev.objectInfo(1).resv
  return { dev, resv, id: dev.fastId(), calls: binding.deviceFastCalls(), out: new Float64Array(4) }
}

describe('the device fast entry points (native/napi/device_fast.rs)', () => {
  it('lock, validate and unlock as the napi-rs methods do, answering the violations held', () => {
    const { dev, resv, id, calls, out } = setup()
    expect(dev.fastId()).toBe(id)
    expect(calls.lock(id, 0, resv, 0, 0, out)).toBe(0)
    expect([out[0], out[1]]).toEqual([0, 0])
    expect(dev.resvInfo(resv).locked).toBe(true)
    // Locked again by the same thread without a context: the engine's answer, as napi-rs's lock gives it.
    const again = dev.lock(0, resv, 0, 2)
    expect(calls.lock(id, 0, resv, 0, 2, out)).toBe(0)
    expect(['ok', 'EDEADLK', 'EALREADY', 'EBUSY', 'blocked'][out[0]!]).toBe(again.result)
    const words = new BigUint64Array(out.buffer)
    const places = new Uint32Array([3, 0, 0]) // VRAM, no window
    expect(calls.validate(id, 0, 1, places, 3, out)).toBe(0)
    expect(out[0]).toBe(1)
    expect(out[1]).toBe(0)
    expect(words[3]).toBe(1n << 20n)
    expect(dev.objectInfo(1).domain).toBe(3)
    expect(calls.unlock(id, 0, resv)).toBe(0)
    // A validate without the lock is recorded as a violation (and refused), which the count says.
    expect(thrown(() => calls.validate(id, 0, 1, places, 3, out)).code).toBe('EINVAL')
    expect(dev.takeViolations().length).toBe(1)
  })

  it('refuse bad ids, arguments and arrays with EINVAL, and throw the engine errno as code', () => {
    const { dev, resv, id, calls, out } = setup()
    expect(thrown(() => calls.unlock(id + 1000, 0, resv)).code).toBe('EINVAL')
    expect(thrown(() => calls.unlock(-1, 0, resv)).code).toBe('EINVAL')
    expect(thrown(() => calls.unlock(id, 0.5, resv)).code).toBe('EINVAL')
    expect(thrown(() => calls.unlock('1' as unknown as number, 0, resv)).code).toBe('EINVAL')
    expect(thrown(() => calls.lock(id, 0, resv, 0, 3, out)).message).toMatch(/lock mode must be 0..2/)
    expect(thrown(() => calls.lock(id, 0, 999, 0, 0, out)).code).toBe('EINVAL')
    expect(thrown(() => calls.lock(id, 0, resv, 0, 0, new Float64Array(3))).message).toMatch(/4 numbers/)
    expect(thrown(() => calls.lock(id, 0, resv, 0, 0, new Uint32Array(4) as never)).code).toBe('EINVAL')
    const detached = new Float64Array(4)
    structuredClone(detached.buffer, { transfer: [detached.buffer] })
    expect(thrown(() => calls.lock(id, 0, resv, 0, 0, detached)).code).toBe('EINVAL')
    expect(calls.lock(id, 0, resv, 0, 0, out)).toBe(0)
    expect(thrown(() => calls.validate(id, 0, 1, new Uint32Array([3]), 2, out)).message).toMatch(/2 places/)
    expect(thrown(() => calls.validate(id, 0, 1, new Uint32Array([0x77]), 1, out)).code).toBe('EINVAL')
    expect(thrown(() => calls.validate(id, 0, 1, [3] as never, 1, out)).code).toBe('EINVAL')
    expect(calls.unlock(id, 0, resv)).toBe(0)
    // Unlocking a lock not held is a violation the engine records: the count answered says so.
    expect(calls.unlock(id, 0, resv)).toBe(1)
    expect(dev.takeViolations()[0]?.kind).toBeTypeOf('string')
  })

  it('refuse the id of a device that was garbage-collected', async () => {
    v8.setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const binding = loadBinding()
    const calls = binding.deviceFastCalls()
    const ids = Array.from({ length: 8 }, () => new binding.NativeDevice(0, undefined, undefined, undefined).fastId())
    let gone = false
    for (let round = 0; round < 100 && !gone; round++) {
      gc()
      await new Promise((resolve) => setImmediate(resolve))
      gone = ids.every((id) =>
        thrown(() => calls.unlock(id, 0, 1))
          .message!.toString()
          .includes('no device'),
      )
    }
    expect(gone).toBe(true)
    const fresh = new binding.NativeDevice(0, undefined, undefined, undefined)
    expect(ids).not.toContain(fresh.fastId())
  })

  it('leave Device violations as the slow path records them (validate without the lock, then a clean step)', () => {
    const dev = new Device({ engine: 'native' })
    const obj = dev.createObject({ size: 1n << 20n })
    expect(() => dev.validate(obj, [{ domain: 'vram' }])).toThrow()
    expect(dev.violations.length).toBe(1)
    obj.resv.lock()
    expect(dev.validate(obj, [{ domain: 'vram' }])).toEqual({ moved: true, bytesMoved: 1n << 20n, evictions: 0 })
    obj.resv.unlock()
    expect(dev.violations.length).toBe(1)
    // A slow call after a clean fast one still has its violations fetched.
    obj.resv.lock()
    dev.validate(obj, [{ domain: 'gtt' }])
    expect(dev.violations.length).toBe(1)
    obj.resv.unlock()
  })
})
