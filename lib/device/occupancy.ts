/**
 * A device's memory as flat time-series columns (the `StatsRow` shape the
 * plots draw): bytes used per domain, the capacity and fragmentation of the
 * bounded ones, and the evictions and bytes moved so far. One sampler for
 * every series drmsim writes: replays' `--stats-every` and scenarios' steps.
 */
import type { Device } from './device.js'
import type { PlaceDomain } from './placement.js'

const DOMAINS: readonly PlaceDomain[] = ['vram', 'gtt', 'system']
/** What an unbounded domain (SYSTEM by default) reports as its capacity. */
const UNBOUNDED = (1n << 64n) - 1n

/** The domains `device` has (a device may lack VRAM or GTT). */
export function domainsOf(device: Pick<Device, 'memory'>): PlaceDomain[] {
  return DOMAINS.filter((d) => {
    try {
      device.memory(d)
      return true
    } catch {
      return false
    }
  })
}

/**
 * The columns for `device` now: `<domain>Used` for each of `domains`,
 * `<domain>Capacity` and `<domain>Fragmentation` for each bounded one, and
 * `evictions` / `bytesMoved` so far, and the shrinker's `swapouts`,
 * `purges` and `swapUsed` once it has done something.
 */
export function occupancyColumns(
  device: Pick<Device, 'memory' | 'placementTotals'>,
  domains: readonly PlaceDomain[] = domainsOf(device),
): Record<string, number> {
  const row: Record<string, number> = {}
  const stats = domains.map((d) => [d, device.memory(d)] as const)
  for (const [d, m] of stats) row[`${d}Used`] = Number(m.used)
  // An unbounded domain has no capacity to draw and nothing to fragment.
  for (const [d, m] of stats) if (m.capacity < UNBOUNDED) row[`${d}Capacity`] = Number(m.capacity)
  for (const [d, m] of stats)
    if (m.capacity < UNBOUNDED) row[`${d}Fragmentation`] = Math.round(m.fragmentation * 1e4) / 1e4
  const totals = device.placementTotals
  row.evictions = Number(totals.evictions)
  row.bytesMoved = Number(totals.bytesMoved)
  // The shrinker's counts, on a device that has them (a swap set up or used).
  const t = totals as Partial<Record<'swapouts' | 'purges' | 'swapUsed', bigint>>
  if (t.swapouts || t.purges || t.swapUsed) {
    row.swapouts = Number(t.swapouts ?? 0n)
    row.purges = Number(t.purges ?? 0n)
    row.swapUsed = Number(t.swapUsed ?? 0n)
  }
  return row
}
