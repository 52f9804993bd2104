/**
 * The state hash of a replay's summary (`stateFnv1a64`): FNV-1a 64 over
 * `vm <name>\n` and then one line `<addr> <range> <object name or -> <offset>\n`
 * per mapping (hex as `0x...`, the kernel-reserved node left out), for each
 * VA space in the order the replay holds them. The lines are never built:
 * their bytes go to the hash as they are produced, the hex digits read from
 * a u64's two 32-bit halves (a mapping cost four strings and a BigInt
 * conversion each before; at tens of thousands of mappings that was a tenth
 * of a replay's time).
 */
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'

/** A u64 written here is read back as two halves: the low one first on a little-endian machine. */
const word = new BigUint64Array(1)
const halves = new Uint32Array(word.buffer)
const LOW = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1

/** FNV-1a 64, its state in two 32-bit halves (as `Fnv1a64` in workloads/vmbind.ts). */
class Fnv {
  hi = 0xcbf29ce4
  lo = 0x84222325

  byte(b: number): void {
    const lo = (this.lo ^ b) >>> 0
    // h * 0x100000001b3 = h * 0x1b3 + (h << 40), mod 2^64; each partial sum stays below 2^53.
    const low = lo * 0x1b3
    this.hi = (this.hi * 0x1b3 + ((lo << 8) >>> 0) + Math.floor(low / 0x1_0000_0000)) >>> 0
    this.lo = low >>> 0
  }

  text(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const b = text.charCodeAt(i)
      if (b > 0x7f) throw new RangeError('Fnv1a64.update: text must be ASCII')
      this.byte(b)
    }
  }

  /** `0x` and the lowercase hex digits of `v`, no leading zeros (as `v.toString(16)`). */
  hex(v: bigint): void {
    word[0] = v
    const hi = halves[1 - LOW]
    const lo = halves[LOW]
    this.byte(0x30)
    this.byte(0x78)
    let started = false
    for (let k = 15; k >= 0; k--) {
      const n = k >= 8 ? (hi >>> ((k - 8) * 4)) & 15 : (lo >>> (k * 4)) & 15
      if (n === 0 && !started && k > 0) continue
      started = true
      this.byte(n < 10 ? 0x30 + n : 0x57 + n)
    }
  }

  get value(): string {
    return (this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0')).padStart(16, '0')
  }
}

/** The hash (16 hex digits) and the mappings counted, over `vms` with objects named by `name`. */
export function stateHash(
  vms: Iterable<[string, GpuVm]>,
  name: (obj: GemObject | null) => string | null,
): { hash: string; mappings: number } {
  const h = new Fnv()
  let mappings = 0
  let lastObj: GemObject | null | undefined
  let lastName = ''
  for (const [vmName, vm] of vms) {
    h.text(`vm ${vmName}\n`)
    for (const va of vm.vas()) {
      if (va.isKernelNode) continue
      mappings++
      h.hex(va.addr)
      h.byte(0x20)
      h.hex(va.range)
      h.byte(0x20)
      if (va.obj !== lastObj) {
        lastObj = va.obj
        lastName = name(va.obj) ?? '-'
      }
      h.text(lastName)
      h.byte(0x20)
      h.hex(va.offset)
      h.byte(0x0a)
    }
  }
  return { hash: h.value, mappings }
}
