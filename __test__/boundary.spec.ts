// The native boundary: panics become errors, native memory is visible to the
// garbage collector, and creating and destroying objects does not leak.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { GpuVm } from '../lib/index.js'
import { loadBinding } from '../lib/native/gpuvm.js'

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
    const vm = new (loadBinding().NativeVm)('ext', 0n, 1n << 48n)
    for (let i = 0n; i < 100_000n; i++) vm.insert(0x100000n + i * 0x2000n, 0x1000n, 0, 0n)
    // 100,000 mappings of 56 bytes and their index: several megabytes.
    expect(vm.externalBytes).toBeGreaterThan(4 << 20)
    vm.destroy()
    expect(vm.externalBytes).toBe(0)
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
