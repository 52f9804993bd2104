/**
 * What a replay takes and gives: its options, the record of one request (its
 * steps, results, violations, warnings, error), the summary and the result.
 */
import type { PageTableProfile, PageTableProfileName } from '../contract/pagetable.js'
import type { Device } from '../device/device.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { EngineName } from '../contract/vm.js'
import type { Warning } from '../base/errors.js'
import type { ReplayError, ReplayRequest } from './schema.js'

export interface ReplayOptions {
  /** Name used in messages (default 'replay.jsonl', or the file's base name). */
  file?: string
  /** Engine of the device and the VA spaces (default: DRMSIM_ENGINE or native). */
  engine?: EngineName
  /** Record simulation errors and go on, instead of stopping at the first. Format errors always stop. */
  keepGoing?: boolean
  /** Longest line in bytes (default 64 KiB). */
  maxLineBytes?: number
  /** Most live VMs + objects + contexts (default 1,000,000). */
  maxHandles?: number
  /** Called once per request with what it did (the CLI prints these); nothing is kept otherwise. */
  onRecord?: (record: ReplayRecord) => void
  /** A page-table cost model for every VA space (`new GpuVm({ pageTable })`); read it from `result.vms`. */
  pageTable?: PageTableProfileName | PageTableProfile
}

/** One step of a bind/unbind, with object names. */
export type ReplayStep =
  | { kind: 'map'; addr: bigint; range: bigint; obj: string | null; offset: bigint }
  | { kind: 'remap'; addr: bigint; range: bigint; keep: boolean; prev: ReplayPiece | null; next: ReplayPiece | null }
  | { kind: 'unmap'; addr: bigint; range: bigint; obj: string | null; offset: bigint; keep: boolean }

export interface ReplayPiece {
  addr: bigint
  range: bigint
  obj: string | null
  offset: bigint
}

/**
 * A value a request returned: a number, a u64, a flag, a name, or a list of
 * names (objects by name; vm_bos as `name#id`, with `:refN`, `:ext`,
 * `:evicted`, `:zombie` where their state is shown).
 */
export type ReplayValue = bigint | number | boolean | string | null | readonly string[]

/** What one request did. */
export interface ReplayRecord {
  request: ReplayRequest
  /** The split/merge steps of a bind or unbind, applied in order. */
  steps: ReplayStep[]
  /** An op list the request made without applying it (`vm.madvise`). */
  opList?: ReplayStep[]
  /** Values the request returned (pin count, vmap address, validate result, vm_bo state, lists, ...). */
  result: Record<string, ReplayValue>
  violations: { kind: string; obj: string | null; message: string; rule: string }[]
  warnings: Warning[]
  /** Set when the request failed and keepGoing let the replay go on. */
  error?: ReplayError
}

export interface ReplaySummary {
  requests: number
  vms: number
  objects: number
  ops: { map: number; remap: number; unmap: number }
  mappings: number
  pins: number
  vmaps: number
  locks: number
  validates: number
  bytesMoved: bigint
  evictions: bigint
  violations: number
  warnings: number
  errors: number
  stateFnv1a64: string
}

export interface ReplayResult {
  summary: ReplaySummary
  /** The device every object lives on. */
  device: Device
  /** Live VA spaces by name, in creation order. */
  vms: ReadonlyMap<string, GpuVm>
  /** Live objects by name, in creation order. */
  objects: ReadonlyMap<string, GemObject>
  /** The replay name of any object it created (destroyed ones too, while reachable). */
  nameOf(obj: GemObject): string | undefined
  /** The first errors recorded under keepGoing. */
  errors: ReplayError[]
}
