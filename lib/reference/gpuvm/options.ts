/**
 * What a reference VA space is made with and warns about: the era, flags and
 * resv of its options (`hubOptions`), the warning kinds with their rules, the
 * bounds of the words it keeps.
 */
import type { VmCreateOptions } from '../../contract/vm.js'
import { ERA_GPUVM, ERA_SEED, ERAS, VA_FLAGS, VM_FLAGS } from '../../contract/hub.js'
import { DrmError } from '../../base/errors.js'
import { hex } from '../../base/check.js'
import { HUB_RULES } from './hub.js'

/** `DRM_GPUVA_INVALIDATED`. */
export const VA_INVALIDATED = VA_FLAGS.invalidated
/** Every `VM_FLAGS` bit. */
const ALL_VM_FLAGS = VM_FLAGS.resvProtected | VM_FLAGS.immediateMode
export const U32_MAX = 0xffff_ffff
/** The flags word a mapping keeps (`setVaFlags`): 16 bits, as the native record holds them. */
export const VA_FLAGS_MAX = 0xffff

/** The warning kinds of warning.rs, with the rule each comes from. */
export const RULES = {
  overflow: 'seed-004: GPUVA address limited to 8 bytes',
  'kernel-node-remove': 'seed-004: the kernel reserved node cannot be destroyed',
  'tree-not-empty': 'seed-004: GPUVA tree is not empty on destroy, potentially leaking memory',
  ...HUB_RULES,
} as const
export type WarnKind = keyof typeof RULES

export const isU32 = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= U32_MAX

/** The era, flags and resv of the options, or EINVAL. */
export function hubOptions(opts: VmCreateOptions): { era: number; flags: number; resv: number } {
  const { era = ERA_SEED, flags = 0, resv = 0 } = opts
  if (!Number.isInteger(era) || era < 0 || era >= ERAS.length) {
    throw new DrmError('EINVAL', `era must be an index into ERAS (0..${ERAS.length - 1}), got ${era}`)
  }
  if (!isU32(flags) || (flags & ~ALL_VM_FLAGS) !== 0) {
    throw new DrmError('EINVAL', `flags must be VM_FLAGS bits (0..${ALL_VM_FLAGS}), got ${flags}`)
  }
  if (era === ERA_SEED && flags !== 0) {
    throw new DrmError('EINVAL', `flags need era ${ERA_GPUVM} or later; era ${ERA_SEED} (${ERAS[ERA_SEED]}) has none`)
  }
  if (!isU32(resv)) throw new DrmError('EINVAL', `resv must be a u32 id, got ${resv}`)
  return { era, flags, resv }
}

/** A mapping's flags word (`setVaFlags`), or EINVAL past 16 bits (`VA_FLAGS_MAX`). */
export function checkVaFlags(flags: number): number {
  if (!isU32(flags) || flags > VA_FLAGS_MAX) {
    throw new DrmError('EINVAL', `flags must fit in 16 bits (at most ${hex(VA_FLAGS_MAX)}), got ${flags}`)
  }
  return flags
}
