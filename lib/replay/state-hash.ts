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
import { Fnv1a64 } from '../workloads/vmbind.js'

/** The hash (16 hex digits) and the mappings counted, over `vms` with objects named by `name`. */
export function stateHash(
  vms: Iterable<[string, GpuVm]>,
  name: (obj: GemObject | null) => string | null,
): { hash: string; mappings: number } {
  const h = new Fnv1a64()
  let mappings = 0
  let lastObj: GemObject | null | undefined
  let lastName = ''
  for (const [vmName, vm] of vms) {
    h.update(`vm ${vmName}\n`)
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
      h.update(lastName)
      h.byte(0x20)
      h.hex(va.offset)
      h.byte(0x0a)
    }
  }
  return { hash: h.value.toString(16).padStart(16, '0'), mappings }
}
