/**
 * What every scenario keeps besides its lines and outcome: the devices and VA
 * spaces for pictures, and each device's memory after each step for the plot
 * over time (`drmsim scenario NAME --plot`). Kept out of the JSON
 * (non-enumerable), so `--json` prints the story alone.
 */
import type { Device } from '../device/device.js'
import type { GemObject } from '../device/gem.js'
import { occupancyColumns } from '../device/occupancy.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { StatsRow } from '../render/plot.js'
import type { ScenarioResult } from './scenarios.js'

/** Appends `device`'s memory after step `rows.length + 1`, with the evictions that step made. */
export function sampleStep(device: Device, rows: StatsRow[]): void {
  const row = occupancyColumns(device)
  const before = rows.at(-1)?.evictions
  row.stepEvictions = row.evictions - (typeof before === 'number' ? before : 0)
  rows.push({ req: rows.length + 1, ...row })
}

/** The parts of a story kept for pictures, one entry per device in story order. */
export interface StoryParts {
  devices: Device[]
  vms?: GpuVm[]
  nameOf?: (obj: GemObject) => string | undefined
  /** What each device's part shows ('' for a story of one part). */
  parts?: string[]
  /** Each device's memory after each of its steps. */
  timelines?: StatsRow[][]
}

/** `result` with `parts` attached, not enumerable; `device` is the last device. */
export function withParts(result: ScenarioResult, parts: StoryParts): ScenarioResult {
  const hidden = {
    device: parts.devices.at(-1),
    devices: parts.devices,
    vms: parts.vms ?? [],
    nameOf: parts.nameOf ?? (() => undefined),
    parts: parts.parts ?? parts.devices.map(() => ''),
    timelines: parts.timelines ?? parts.devices.map(() => []),
  }
  for (const [key, value] of Object.entries(hidden)) Object.defineProperty(result, key, { value, enumerable: false })
  return result
}
