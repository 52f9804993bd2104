/**
 * Whether a value is a real `Device` (a Proxy or look-alike is not), and the
 * device's violation drain, for the modules a device itself imports (resv.ts,
 * copy-engine.ts): asking here instead of device.ts keeps the imports of the
 * device folder free of circles.
 */
import { isObject } from '../base/check.js'
import type { Device } from './device.js'

let brand: (value: object) => boolean = () => false

/** @internal Set once, by `Device`'s static block, to its private-field check. */
export function setDeviceBrand(check: (value: object) => boolean): void {
  brand = check
}

export const isDevice = (value: unknown): value is Device => isObject(value) && brand(value)

let drain: (device: Device) => void = () => {}

/** @internal Set once, by `Device`'s static block, to what `run` does after its function. */
export function setDeviceDrain(f: (device: Device) => void): void {
  drain = f
}

/**
 * After an engine call on `device`: collects the violations it recorded, as `device.run(f)` does
 * after `f`. The hot calls (lock, unlock, validate) write `try { call } finally { drained(device) }`
 * instead of `device.run(() => call)`: no closure made (and compiled lazily) per call.
 */
export function drained(device: Device): void {
  drain(device)
}
