/**
 * The device's object table: looking an object up, and the one change every
 * move makes (domain, generation, and the vmap rule), shared by the object
 * calls (gem.ts) and placement (placement.ts).
 */
import { DrmError } from '../../base/errors.js'
import { type DevState, DOMAIN_NAMES, type Obj, U64_MAX } from './state.js'

const name = (domain: number) => DOMAIN_NAMES[domain]

export function objectRecord(d: DevState, id: number): Obj {
  const o = d.objects.get(id)
  if (!o) throw new DrmError('EINVAL', `no GEM object ${id}`)
  return o
}

export function objectOf(d: DevState, id: number): Obj {
  const o = objectRecord(d, id)
  if (o.freed) throw new DrmError('EINVAL', `GEM object ${id} was freed`)
  return o
}

export function relocate(d: DevState, id: number, to: number): void {
  const o = objectOf(d, id)
  const from = o.domain
  o.domain = to
  o.generation = (o.generation + 1n) & U64_MAX
  if (o.vmapCount > 0) {
    d.violate(
      'move-while-vmapped',
      id,
      `GEM object ${id} moved ${name(from)} -> ${name(to)} with vmap use count ${o.vmapCount}`,
    )
  }
}
