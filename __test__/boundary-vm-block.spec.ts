// The VA block entry points (native/napi/vm_block.rs): blockBind,
// blockUnbind, blockInsert, blockRemove, blockGet, blockFind and
// blockFindFirst read the VA space's id and the request from a per-thread
// block instead of a Node-API argument and the I/O buffer. They must answer,
// refuse and throw exactly as bind, unbind, insert, remove, get, find and
// findFirst do; a
// transfer leaves the block in place; and were it detached (which takes V8's
// natives syntax), the public API keeps its results through the I/O buffer.
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { fastCalls, loadBinding } from '../lib/native/gpuvm.js'
import { Wire } from '../lib/contract/wire.gen.js'
import { thrown } from './errno.js'

const root = path.resolve(__dirname, '..')
const P = 0x1000n

/** The id slot of the block's numbers (vm_block.rs: after the I/O layout's IO_MIN_BYTES). */
const ID = Wire.IO_MIN_BYTES / 8

/** A request into both the I/O buffer (for `calls.bind(id)`) and the block (for `calls.blockBind()`). */
function put(id: number, addr: bigint, range: bigint, obj: number, offset: bigint): void {
  const f = fastCalls()
  for (const [words, halves] of [
    [f.words, f.halves],
    [f.blockWords, f.blockHalves],
  ] as const) {
    words[Wire.IO_ADDR_U64] = addr
    words[Wire.IO_RANGE_U64] = range
    halves[Wire.IO_OBJ_U32] = obj
    words[Wire.IO_OFFSET_U64] = offset
  }
  f.blockNumbers[ID] = id
}

/** What a call left or threw: its counts (or mapping) as the buffer it wrote shows them, or its error. */
function outcome(f: () => unknown, out: Float64Array, numbers: Float64Array, halves: Uint32Array) {
  try {
    f()
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown }
    return { code: err.code, message: err.message }
  }
  return {
    counts: [out[Wire.IO_OUT_MAP], out[Wire.IO_OUT_REMAP], out[Wire.IO_OUT_UNMAP]],
    seq: numbers[Wire.IO_VA_SEQ_F64],
    flags: halves[Wire.IO_VA_FLAGS_U32],
  }
}

describe('the VA block entry points (native/napi/vm_block.rs)', () => {
  it('give this runtime a block, the same one on every fastInit', () => {
    const f = fastCalls()
    expect(f.calls.block).not.toBeNull()
    expect(f.blockNumbers.length).toBe(ID + 1)
    expect(loadBinding().fastInit(new ArrayBuffer(240)).block).toBe(f.calls.block)
  })

  it('bind, unbind and insert as the calls through the I/O buffer do, answers and errors alike', () => {
    const f = fastCalls()
    const { NativeVm } = loadBinding()
    // One name for both: the errors name the VA space.
    const a = new NativeVm('vm', 0n, 1n << 32n)
    const b = new NativeVm('vm', 0n, 1n << 32n)
    const both = (
      viaIo: (id: number) => void,
      viaBlock: () => void,
      addr: bigint,
      range: bigint,
      obj = 0,
      offset = 0n,
    ): void => {
      put(a.id, addr, range, obj, offset)
      const x = outcome(() => viaIo(a.id), f.out, f.numbers, f.halves)
      put(b.id, addr, range, obj, offset)
      const y = outcome(viaBlock, f.blockOut, f.blockNumbers, f.blockHalves)
      expect(y).toEqual(x)
    }
    // Hand-picked: a map, one inside it (a remap of two pieces), an unmap across both, errors.
    both(f.calls.bind, f.calls.blockBind, 0x10000n, 8n * P, 7, 0n)
    both(f.calls.bind, f.calls.blockBind, 0x12000n, 2n * P, 8, 0x4000n)
    both(f.calls.unbind, f.calls.blockUnbind, 0x11000n, 4n * P)
    both(f.calls.bind, f.calls.blockBind, 0x10000n, 0n)
    both(f.calls.bind, f.calls.blockBind, 1n << 32n, P)
    both(f.calls.insert, f.calls.blockInsert, 0x40000n, P, 3, 0x1000n)
    both(f.calls.insert, f.calls.blockInsert, 0x40000n, P, 3, 0x1000n)
    both(f.calls.insert, f.calls.blockInsert, 0xffff_f000n, 2n * P)
    // A pseudo-random run on both.
    let s = 12345
    const next = (n: number) => {
      s = (s * 1103515245 + 12345) % 2 ** 31
      return BigInt(s % n)
    }
    for (let i = 0; i < 2000; i++) {
      const addr = next(1 << 12) * P
      const range = (1n + next(16)) * P
      if (next(3) === 0n) both(f.calls.unbind, f.calls.blockUnbind, addr, range)
      else both(f.calls.bind, f.calls.blockBind, addr, range, Number(next(5)), next(8) * P)
    }
    expect(b.listPacked()).toEqual(a.listPacked())
    // An id no VA space has, and one of a destroyed VA space.
    put(0x7fff_ffff, 0n, P, 0, 0n)
    const unknown = thrown(() => f.calls.blockBind())
    expect(unknown).toEqual(thrown(() => f.calls.bind(0x7fff_ffff)))
    expect(unknown.code).toBe('EINVAL')
    a.destroy()
    b.destroy()
    both(f.calls.bind, f.calls.blockBind, 0x10000n, P)
    both(f.calls.insert, f.calls.blockInsert, 0x10000n, P)
  })

  it('remove, get, find and findFirst as the calls through the I/O buffer do, answers and errors alike', () => {
    const f = fastCalls()
    const { NativeVm } = loadBinding()
    const a = new NativeVm('vm', 0n, 1n << 32n)
    const b = new NativeVm('vm', 0n, 1n << 32n)
    /** What a tree call left (the whole mapping slot) or threw. */
    const answer = (call: () => void, words: BigUint64Array, halves: Uint32Array, numbers: Float64Array) => {
      try {
        call()
      } catch (e) {
        const err = e as { code?: unknown; message?: unknown }
        return { code: err.code, message: err.message }
      }
      // Nothing found: the rest of the slot is what an earlier call left.
      if (halves[Wire.IO_VA_FOUND_U32] === 0) return { found: 0 }
      return {
        found: halves[Wire.IO_VA_FOUND_U32],
        va: [words[Wire.IO_VA_ADDR_U64], words[Wire.IO_VA_RANGE_U64], words[Wire.IO_VA_OFFSET_U64]],
        obj: halves[Wire.IO_VA_OBJ_U32],
        seq: numbers[Wire.IO_VA_SEQ_F64],
        flags: halves[Wire.IO_VA_FLAGS_U32],
      }
    }
    /** The same call on `a` through the I/O buffer and on `b` through the block. */
    const both = (viaIo: (id: number) => void, viaBlock: () => void, addr: bigint, second: bigint | number): void => {
      for (const [words, halves, numbers] of [
        [f.words, f.halves, f.numbers],
        [f.blockWords, f.blockHalves, f.blockNumbers],
      ] as const) {
        // A stale answer must not pass for a new one.
        halves[Wire.IO_VA_FOUND_U32] = 7
        words[Wire.IO_ADDR_U64] = addr
        if (typeof second === 'bigint') words[Wire.IO_RANGE_U64] = second
        else numbers[Wire.IO_SEQ_F64] = second
      }
      f.blockNumbers[ID] = b.id
      const x = answer(() => viaIo(a.id), f.words, f.halves, f.numbers)
      const y = answer(viaBlock, f.blockWords, f.blockHalves, f.blockNumbers)
      expect(y).toEqual(x)
    }
    // The same mappings in both, seqs included.
    for (const [addr, range, obj] of [
      [0x10000n, 4n * P, 3],
      [0x20000n, P, 0],
      [0x30000n, 2n * P, 5],
    ] as const) {
      for (const vm of [a, b]) {
        put(vm.id, addr, range, obj, 0x2000n)
        f.calls.insert(vm.id)
      }
    }
    for (const seq of [1, 2, 3, 4, 0, -1, 1.5, 2 ** 53]) both(f.calls.get, f.calls.blockGet, 0x20000n, seq)
    both(f.calls.get, f.calls.blockGet, 0x10000n, 1)
    for (const [addr, range] of [
      [0x10000n, 4n * P],
      [0x10000n, P],
      [0x11000n, P],
      [0x0n, 1n << 32n],
      [0x20001n, P],
      [0xffff_f000n, 2n * P],
      [0x10000n, 0n],
    ] as const) {
      both(f.calls.find, f.calls.blockFind, addr, range)
      both(f.calls.findFirst, f.calls.blockFindFirst, addr, range)
    }
    both(f.calls.remove, f.calls.blockRemove, 0x20000n, 2)
    both(f.calls.remove, f.calls.blockRemove, 0x20000n, 2)
    both(f.calls.remove, f.calls.blockRemove, 0x30000n, 1.5)
    both(f.calls.remove, f.calls.blockRemove, 0x30000n, 3)
    both(f.calls.findFirst, f.calls.blockFindFirst, 0x0n, 1n << 32n)
    expect(b.listPacked()).toEqual(a.listPacked())
    a.destroy()
    b.destroy()
    both(f.calls.findFirst, f.calls.blockFindFirst, 0x10000n, P)
    both(f.calls.get, f.calls.blockGet, 0x10000n, 1)
    both(f.calls.remove, f.calls.blockRemove, 0x10000n, 1)
  })

  it('keep the block through a transfer, and the public API its answers once it is detached (in a thread of its own)', async () => {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads')
      const v8 = require('node:v8')
      const binding = require(${JSON.stringify(path.join(root, 'index.js'))})
      const drmsim = require(${JSON.stringify(path.join(root, 'dist/index.js'))})
      const run = () => {
        const vm = new drmsim.GpuVm({ range: 1n << 48n, engine: 'native' })
        const obj = new drmsim.GemObject({ size: 1n << 20n })
        const out = []
        out.push(vm.bind({ addr: 0x10000n, range: 0x8000n, obj }))
        out.push(vm.bind({ addr: 0x12000n, range: 0x2000n, obj, offset: 0x1000n }))
        out.push(vm.unbind(0x11000n, 0x4000n))
        const va = vm.insert({ addr: 0x100000n, range: 0x1000n })
        out.push([va.addr, va.range, va.seq])
        try { vm.insert({ addr: 0x100000n, range: 0x1000n }) } catch (e) { out.push([e.errno, e.message]) }
        out.push([...vm].map((v) => [v.addr, v.range, v.offset, v.seq]))
        const first = vm.findFirst(0x10000n, 0x8000n)
        out.push([first.addr, first.seq, vm.find(0x100000n, 0x1000n).seq, vm.find(0x100000n, 0x2000n) === undefined])
        out.push([vm.contains(va), va.invalidated])
        vm.remove(va)
        out.push([vm.contains(va), vm.mappingCount])
        try { vm.remove(va) } catch (e) { out.push([e.errno, e.message]) }
        return JSON.stringify(out, (_, v) => (typeof v === 'bigint' ? v.toString(16) : v))
      }
      const before = run()
      const block = binding.fastInit(new ArrayBuffer(240)).block
      // An external buffer: a transfer copies it and leaves it in place.
      structuredClone(block, { transfer: [block] })
      const kept = block.byteLength
      const afterTransfer = run()
      v8.setFlagsFromString('--allow-natives-syntax')
      new Function('b', '%ArrayBufferDetach(b)')(block)
      parentPort.postMessage({ kept, detached: block.byteLength, same: [afterTransfer === before, run() === before] })`,
      { eval: true },
    )
    const out = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    expect(out).toEqual({ kept: Wire.IO_MIN_BYTES + 8, detached: 0, same: [true, true] })
  })
})
