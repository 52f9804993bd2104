/**
 * Who hears of a fence signalled by hand (`Fence.signal`): the bind queues
 * of the device (lib/gpuvm/bind-queue.ts) recompute when their jobs run,
 * since a job waiting on a fence with no time of its own can start now.
 * Kept apart from resv.ts and the queues, so neither imports the other.
 */
import type { Device } from './device.js'

const listeners = new WeakMap<Device, Set<() => void>>()

/** @internal Calls `listener` after every fence of `device` signalled by hand; returns the unsubscribe. */
export function onFenceSignal(device: Device, listener: () => void): () => void {
  let set = listeners.get(device)
  if (set === undefined) listeners.set(device, (set = new Set()))
  set.add(listener)
  return () => set.delete(listener)
}

/** @internal Tells the listeners of `device` that a fence signalled. */
export function fenceSignalled(device: Device): void {
  const set = listeners.get(device)
  if (set !== undefined) for (const listener of [...set]) listener()
}
