/**
 * Whether a value is a real `Device` (a Proxy or look-alike is not), for the
 * modules a device itself imports (resv.ts): asking here instead of
 * device.ts keeps the imports of the device folder free of circles.
 */
import { isObject } from '../base/check.js'
import type { Device } from './device.js'

let brand: (value: object) => boolean = () => false

/** @internal Set once, by `Device`'s static block, to its private-field check. */
export function setDeviceBrand(check: (value: object) => boolean): void {
  brand = check
}

export const isDevice = (value: unknown): value is Device => isObject(value) && brand(value)
