// The native boundary: panics become errors, native memory is visible to the
// garbage collector, and creating and destroying objects does not leak.
import { execFile, execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { BindBatch, DrmError, GpuVm } from '../lib/index.js'
import { fastCalls, loadBinding, NativeVmCore } from '../lib/native/gpuvm.js'

const root = path.resolve(__dirname, '..')

describe('the native boundary', () => {
  it('turns a Rust panic into a JavaScript error and keeps the process alive', () => {
    const binding = loadBinding()
    expect(() => binding.forcePanicForTest()).toThrow(/deliberate panic/)
    // The addon still works after the panic.
    const vm = new GpuVm({ range: 1n << 48n, engine: 'native' })
    expect(vm.bind({ addr: 0x1000n, range: 0x1000n }).map).toBe(1)
  })

  it('reports native memory to V8 and gives it back on destroy', () => {
    // Node 20 leaves napi_adjust_external_memory out of its memory statistics,
    // so the binding says what it reported.
    const { calls, words, halves } = fastCalls()
    const vm = new (loadBinding().NativeVm)('ext', 0n, 1n << 48n)
    for (let i = 0n; i < 100_000n; i++) {
      words[0] = 0x100000n + i * 0x2000n
      words[1] = 0x1000n
      halves[4] = 0
      words[3] = 0n
      calls.insert(vm.id)
    }
    // 100,000 mappings of 56 bytes and their index: several megabytes.
    expect(vm.externalBytes).toBeGreaterThan(4 << 20)
    vm.destroy()
    expect(vm.externalBytes).toBe(0)
  })

  it('reports the native memory of devices and allocators to V8, at once and as it grows', () => {
    // Each of them used to report nothing, so churning them let RSS climb
    // before the collector ran their finalizers (which give it all back).
    const { NativeDevice, NativeMm, NativeBuddy } = loadBinding()
    const dev = new NativeDevice(0)
    // Three domains, each with a range allocator and an LRU.
    const bare = dev.externalBytes
    expect(bare).toBeGreaterThan(1024)
    for (let id = 1; id <= 20_000; id++) dev.createObject(id, 0x1000n, 0, 0)
    expect(dev.externalBytes).toBeGreaterThan(bare + (1 << 20))

    const mm = new NativeMm(0n, 1n << 40n)
    expect(mm.externalBytes).toBeGreaterThan(0)
    const io = new BigUint64Array(5)
    for (let i = 0; i < 20_000; i++) {
      io.set([0x1000n, 0n, 0n, 0n, 1n << 40n])
      mm.insertIo(io, 1)
    }
    expect(mm.externalBytes).toBeGreaterThan(1 << 20)

    const buddy = new NativeBuddy(1n << 40n, 0x1000n)
    const empty = buddy.externalBytes
    expect(empty).toBeGreaterThan(0)
    for (let i = 0; i < 20_000; i++) {
      io.set([0n, 1n << 40n, 0x1000n, 0x1000n])
      buddy.allocIo(io, 0)
    }
    expect(buddy.externalBytes).toBeGreaterThan(empty + (1 << 20))
  })

  describe('the fast entry points (native/napi/calls.rs)', () => {
    const P = 0x1000n
    /** What `f` threw (it must throw). */
    const thrown = (f: () => unknown): Error & { code?: unknown } => {
      try {
        f()
      } catch (e) {
        return e as Error
      }
      throw new Error('expected an error')
    }
    const vas = (vm: GpuVm) => [...vm.vas()].map((va) => `${va}`)
    const batchOf = (addr: bigint) => {
      const b = new BindBatch()
      b.map({ addr, range: P })
      return b
    }

    it('turn a panic into a JavaScript error (not a DrmError) and leave the VA space as it was', () => {
      const binding = loadBinding()
      const vm = new GpuVm({ range: 1n << 48n, engine: 'native' })
      vm.bind({ addr: 0x10000n, range: 4n * P })
      const before = vas(vm)
      const [first] = vm.vas()
      for (const call of [
        () => vm.bind({ addr: 0x11000n, range: P }),
        () => vm.unbind(0x11000n, P),
        () => vm.bindBatch(batchOf(0x11000n)),
        () => vm.insert({ addr: 0x20000n, range: P }),
        () => vm.remove(first),
        () => vm.find(0x10000n, 4n * P),
        () => vm.findFirst(0x10000n, P),
      ]) {
        binding.forceFastPanicForTest()
        const err = thrown(call)
        expect(err.message).toMatch(/deliberate panic to test the boundary \(fast path\)/)
        expect(err).not.toBeInstanceOf(DrmError)
        expect(vas(vm)).toEqual(before)
      }
      // Armed once, it fired once: the VA space works as before.
      expect(vm.bind({ addr: 0x11000n, range: P })).toEqual({ map: 1, remap: 1, unmap: 0, prefetch: 0 })
    })

    it('refuse ids that name no VA space with EINVAL, and throw the errno of a failed bind as code', () => {
      const { calls, words } = fastCalls()
      const vm = new (loadBinding().NativeVm)('ids', 0n, 1n << 48n)
      const id = vm.id
      expect(Number.isSafeInteger(id)).toBe(true)
      words[0] = 0x10000n
      words[1] = 0n
      calls.unbind(id) // a zero-length unbind: valid, no step
      // id + 2^32 is the next generation of the same slot; + 2^31 a slot never used.
      for (const bad of [0, 1, -1, id + 0.5, id + 2 ** 32, id + 2 ** 31, 2 ** 53, NaN, Infinity, -0, 2 ** 64]) {
        const err = thrown(() => calls.unbind(bad))
        expect([bad, err.code]).toEqual([bad, 'EINVAL'])
        expect(err.message).toMatch(/no VA space has id/)
      }
      for (const bad of ['1', null, undefined, {}, 1n]) {
        const err = thrown(() => calls.bind(bad as unknown as number))
        expect(err.code).toBe('EINVAL')
        expect(err.message).toMatch(/id must be a number/)
      }
      expect(thrown(() => (calls.bind as () => void)()).code).toBe('EINVAL')
      // A request the VA space refuses: its errno as code, its message as bind gives it.
      words[0] = 1n << 48n
      words[1] = P
      const err = thrown(() => calls.unbind(id))
      expect(err.code).toBe('EINVAL')
      expect(DrmError.from(err)).toBeInstanceOf(DrmError)
      const viaApi = thrown(() => new GpuVm({ range: 1n << 48n, engine: 'native' }).unbind(1n << 48n, P))
      expect(viaApi).toBeInstanceOf(DrmError)
      expect(viaApi.message).toBe(`EINVAL: ${err.message}`)
    })

    it('insert, remove, find and findFirst: bad and stale ids, bad seqs, the mapping written back whole', () => {
      const { calls, words, halves, numbers } = fastCalls()
      const NativeVm = loadBinding().NativeVm
      const vm = new NativeVm('tree', 1n << 63n, (1n << 63n) - 1n)
      const id = vm.id
      const tree = [calls.insert, calls.remove, calls.find, calls.findFirst]
      for (const f of tree) {
        for (const bad of [0, -1, id + 0.5, id + 2 ** 32, id + 2 ** 31, 2 ** 53, NaN]) {
          const err = thrown(() => f(bad))
          expect([bad, err.code, err.message]).toEqual([bad, 'EINVAL', expect.stringMatching(/no VA space has id/)])
        }
        for (const bad of ['1', null, undefined, 1n]) {
          expect(thrown(() => f(bad as unknown as number)).message).toMatch(/id must be a number/)
        }
      }
      // Values at the top of u64 come back exactly; seq and flags as numbers.
      const MAX = (1n << 64n) - 1n
      words[0] = MAX - 2n * P
      words[1] = 2n * P - 1n
      halves[4] = 0xffff_fffe
      words[3] = MAX
      calls.insert(id)
      const got = () => [words[8], words[9], words[10], numbers[11], halves[24], halves[25], halves[26]]
      expect(got()).toEqual([MAX - 2n * P, 2n * P - 1n, MAX, 1, 0xffff_fffe, 0, 1])
      vm.setInvalidated(MAX - 2n * P, 1, true)
      words[0] = MAX - P
      words[1] = 1n
      calls.findFirst(id)
      expect(got()).toEqual([MAX - 2n * P, 2n * P - 1n, MAX, 1, 0xffff_fffe, 1, 1])
      calls.find(id)
      expect(halves[26]).toBe(0)
      // The same refusals as the binding's, as errors with the errno as code.
      words[0] = MAX - P
      words[1] = P
      expect(thrown(() => calls.insert(id))).toMatchObject({ code: 'EEXIST' })
      words[1] = 2n * P
      expect(thrown(() => calls.insert(id))).toMatchObject({
        code: 'EINVAL',
        message: expect.stringMatching(/overflows u64/),
      })
      expect(vm.takeWarnings().map((w) => w.kind)).toEqual(['overflow'])
      words[0] = MAX - 2n * P
      for (const bad of [-1, 0.5, 2 ** 53, NaN, Infinity]) {
        numbers[3] = bad
        expect(thrown(() => calls.remove(id))).toMatchObject({
          code: 'EINVAL',
          message: 'seq must be a safe non-negative integer',
        })
      }
      numbers[3] = 2
      expect(thrown(() => calls.remove(id))).toMatchObject({
        code: 'EINVAL',
        message: expect.stringMatching(/no mapping/),
      })
      numbers[3] = 1
      calls.remove(id)
      expect(got()).toEqual([MAX - 2n * P, 2n * P - 1n, MAX, 1, 0xffff_fffe, 1, 1])
      expect(vm.count()).toBe(0)
      // A destroyed VA space: EINVAL, as from the binding's methods.
      vm.destroy()
      for (const f of tree)
        expect(thrown(() => f(id))).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/was destroyed/) })
    })

    it('answer for a destroyed VA space as bind does (EINVAL)', () => {
      const { calls, words } = fastCalls()
      const vm = new (loadBinding().NativeVm)('gone', 0n, 1n << 48n)
      vm.destroy()
      words[0] = 0x10000n
      words[1] = P
      const err = thrown(() => calls.unbind(vm.id))
      expect(err.code).toBe('EINVAL')
      expect(err.message).toMatch(/was destroyed/)
      const api = new GpuVm({ name: 'gone', range: 1n << 48n, engine: 'native' })
      api.destroy()
      const e = thrown(() => api.bind({ addr: 0x10000n, range: P }))
      expect(e).toBeInstanceOf(DrmError)
      expect((e as DrmError).errno).toBe('EINVAL')
    })

    it('close walks abandoned before their end once their cursors are collected', async () => {
      v8.setFlagsFromString('--expose-gc')
      const gc = runInNewContext('gc') as () => void
      const core = new NativeVmCore({ name: 'walks', start: 0n, range: 1n << 48n })
      core.bind(0x10000n, 16n * P, 0, 0n)
      // Each walk takes its first step (a remap) and is dropped.
      ;(() => {
        for (let i = 0; i < 100; i++) expect(core.smUnmap(0x10000n + P, P).step()?.kind).toBe('remap')
      })()
      expect(core.openWalks).toBe(100)
      for (let round = 0; round < 100 && core.openWalks > 0; round++) {
        gc()
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(core.openWalks).toBe(0)
      // A walk taken to its end, or closed, is gone at once.
      const walk = core.smUnmap(0x10000n + P, P)
      while (walk.step() !== undefined);
      core.smMap(0x10000n, P, 0, 0n).close?.()
      expect(core.openWalks).toBe(0)
    })

    it('refuse the id of a VA space that was garbage-collected, even once its slot is reused', async () => {
      v8.setFlagsFromString('--expose-gc')
      const gc = runInNewContext('gc') as () => void
      const { calls, words } = fastCalls()
      const NativeVm = loadBinding().NativeVm
      const ids = Array.from({ length: 8 }, (_, i) => new NativeVm(`tmp${i}`, 0n, 1n << 48n).id)
      words[0] = 0x10000n
      words[1] = 0n
      let gone = false
      for (let round = 0; round < 100 && !gone; round++) {
        gc()
        await new Promise((resolve) => setImmediate(resolve))
        gone = ids.every((id) => {
          try {
            calls.unbind(id)
            return false
          } catch (e) {
            expect((e as { code?: unknown }).code).toBe('EINVAL')
            return true
          }
        })
      }
      expect(gone).toBe(true)
      // New VA spaces take the freed slots under new ids.
      const fresh = Array.from({ length: 8 }, (_, i) => new NativeVm(`new${i}`, 0n, 1n << 48n))
      for (const vm of fresh) {
        expect(ids).not.toContain(vm.id)
        calls.unbind(vm.id)
      }
      for (const id of ids) expect(thrown(() => calls.unbind(id)).code).toBe('EINVAL')
    })

    it('refuse an I/O buffer that is too small or shared, and keep the one the thread has', () => {
      const binding = loadBinding()
      const mine = fastCalls().words.buffer as ArrayBuffer
      // 128 bytes of arguments and results, and room for one packed op (14 words).
      expect(() => binding.fastInit(new ArrayBuffer(239))).toThrow(/at least 240 bytes/)
      expect(() => binding.fastInit(new SharedArrayBuffer(240) as unknown as ArrayBuffer)).toThrow(/ArrayBuffer/)
      expect(() => binding.fastInit(new Uint8Array(240) as unknown as ArrayBuffer)).toThrow(/ArrayBuffer/)
      // Another buffer does not replace the engine's: it is handed back instead.
      expect(binding.fastInit(new ArrayBuffer(240)).io).toBe(mine)
      expect(new GpuVm({ range: 1n << 48n, engine: 'native' }).bind({ addr: 0x10000n, range: P }).map).toBe(1)
    })

    it('refuse a detached I/O buffer instead of touching it, and take a new one in its place (in a thread of its own)', async () => {
      // A worker has a thread state of its own, whose buffer the test may detach.
      const worker = new Worker(
        `const { parentPort } = require('node:worker_threads')
        const binding = require(${JSON.stringify(path.join(root, 'index.js'))})
        const io = new ArrayBuffer(240)
        const calls = binding.fastInit(io)
        const out = { installed: calls.io === io }
        const vm = new binding.NativeVm('detach', 0n, 1n << 48n)
        calls.unbind(vm.id)
        structuredClone(io, { transfer: [io] })
        try {
          calls.unbind(vm.id)
        } catch (e) {
          out.error = [e.code, e.message]
        }
        const next = new ArrayBuffer(240)
        out.replaced = binding.fastInit(next).io === next
        calls.unbind(vm.id)
        parentPort.postMessage(out)`,
        { eval: true },
      )
      const out = await new Promise((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      await worker.terminate()
      expect(out).toEqual({ installed: true, error: ['EINVAL', expect.stringMatching(/detached/)], replaced: true })
    })

    it('serve two copies of the package loaded in one thread, each with its own VA spaces', () => {
      // A second copy of the JavaScript that loads the same addon (here a
      // symlink to it, as two installs share a hoisted platform package):
      // its first call used to replace the thread's I/O buffer, so the first
      // copy's calls read a buffer it no longer wrote.
      const copy = mkdtempSync(path.join(tmpdir(), 'drmsim-copy-'))
      cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true })
      cpSync(path.join(root, 'index.js'), path.join(copy, 'index.js'))
      for (const name of ['drmsim.linux-x64-gnu.node', 'node_modules', 'package.json']) {
        symlinkSync(path.join(root, name), path.join(copy, name))
      }
      const script = path.join(copy, 'two.cjs')
      writeFileSync(
        script,
        `const copies = [${JSON.stringify(path.join(root, 'dist/index.js'))}, './dist/index.js'].map((p) => require(p))
        if (copies[0] === copies[1]) throw new Error('one copy, not two')
        const vms = copies.map(({ GpuVm }, i) => new GpuVm({ name: 'copy' + i, range: 1n << 48n, engine: 'native' }))
        const out = []
        for (let k = 0n; k < 4n; k++) {
          vms.forEach((vm, i) => out.push(vm.bind({ addr: 0x100000n * (BigInt(i) + 1n) + k * 0x2000n, range: 0x1000n })))
        }
        vms.forEach((vm, i) => out.push(vm.smUnmapOps(0x100000n * (BigInt(i) + 1n), 0x2000n).length, vm.find(0x100000n * (BigInt(i) + 1n), 0x1000n)?.addr))
        out.push(...vms.map((vm) => [...vm.vas()].map(String)))
        console.log(JSON.stringify(out, (_, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v)))`,
      )
      const out = JSON.parse(execFileSync(process.execPath, [script], { cwd: copy, encoding: 'utf8' }))
      const counts = { map: 1, remap: 0, unmap: 0, prefetch: 0 }
      const vas = (base: number) =>
        [0, 1, 2, 3].map((k) => `Va[0x${(base + k * 0x2000).toString(16)}, +0x1000) no object`)
      expect(out).toEqual([...Array(8).fill(counts), 1, '0x100000', 1, '0x200000', vas(0x100000), vas(0x200000)])
    })

    it('report what the fast path allocates to V8, and give it back on destroy', () => {
      const { calls, words, halves } = fastCalls()
      const vm = new (loadBinding().NativeVm)('ext-fast', 0n, 1n << 48n)
      for (let i = 0n; i < 100_000n; i++) {
        words[0] = 0x100000n + i * 0x2000n
        words[1] = P
        halves[4] = 0
        words[3] = 0n
        calls.bind(vm.id)
      }
      expect(vm.count()).toBe(100_000)
      expect(vm.externalBytes).toBeGreaterThan(4 << 20)
      vm.destroy()
      expect(vm.externalBytes).toBe(0)
    })

    it('report what fast inserts and removes change to V8, as fast binds do', () => {
      const { calls, words, halves, numbers } = fastCalls()
      const NativeVm = loadBinding().NativeVm
      const fast = new NativeVm('ext-tree', 0n, 1n << 48n)
      // The same mappings made by bind and unbind: the same heap.
      const slow = new NativeVm('ext-tree-bind', 0n, 1n << 48n)
      const seqs: number[] = []
      const addr = (i: number) => 0x100000n + BigInt(i) * 0x2000n
      for (let i = 0; i < 100_000; i++) {
        words[0] = addr(i)
        words[1] = P
        halves[4] = 0
        words[3] = 0n
        calls.insert(fast.id)
        seqs.push(numbers[11])
        calls.bind(slow.id)
      }
      expect(fast.count()).toBe(100_000)
      expect(fast.externalBytes).toBeGreaterThan(4 << 20)
      expect(fast.externalBytes).toBe(slow.externalBytes)
      seqs.forEach((seq, i) => {
        words[0] = addr(i)
        numbers[3] = seq
        calls.remove(fast.id)
        words[1] = P
        calls.unbind(slow.id)
      })
      expect(fast.count()).toBe(0)
      expect(fast.externalBytes).toBe(slow.externalBytes)
      fast.destroy()
      expect(fast.externalBytes).toBe(0)
    })
  })

  describe.each(['native', 'reference'])('%s engine', (engine) => {
    it('creating and destroying 1,000,000 VA spaces, objects and mappings leaves RSS flat', async () => {
      const { stdout } = await promisify(execFile)(process.execPath, [
        '--expose-gc',
        path.join(__dirname, 'fixtures/churn.cjs'),
        path.join(root, 'dist/index.js'),
        engine,
        '1000000',
      ])
      const [early, late] = JSON.parse(stdout).rss as number[]
      // After the first 100,000 rounds the heap has its working size; nine
      // times as many rounds later it must not have grown by more than 32 MiB.
      expect(late - early).toBeLessThan(32 << 20)
    }, 300_000)
  })
})
