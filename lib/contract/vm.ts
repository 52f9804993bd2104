/**
 * The contract between the public API (gpuvm.ts) and the two engines that
 * implement the VA space: native (Rust, through napi-rs) and reference (pure
 * TypeScript). Engines take values already validated by the public API
 * (u64 bigints, u32 object ids), throw DrmError, and record kernel WARNs for
 * takeWarnings(). Records are plain data; handles are built on top of them.
 */

import type { VmHubCore } from './hub.js'
import type { PageTableCore } from './pagetable.js'
import { Wire } from './wire.gen.js'

export type EngineName = 'native' | 'reference'

/** A node of the VA tree. `seq` orders nodes that start at the same address; the kernel node has seq 0. */
export interface VaRecord {
  addr: bigint
  range: bigint
  /** GEM object id; 0 for none (sparse or null mapping). */
  obj: number
  offset: bigint
  seq: number
  /** Bit 0: invalidated. */
  flags: number
}

export interface MapRecord {
  addr: bigint
  range: bigint
  obj: number
  offset: bigint
}

export type OpRecord =
  | { kind: 'map'; map: MapRecord }
  | { kind: 'remap'; prev: MapRecord | null; next: MapRecord | null; va: VaRecord; keep: boolean }
  | { kind: 'unmap'; va: VaRecord; keep: boolean }
  | { kind: 'prefetch'; va: VaRecord }

export interface WarningRecord {
  kind: string
  message: string
  rule: string
}

/** Step counts as the public API gives them (`prefetch` is 0 for a request). */
export interface OpCounts {
  map: number
  remap: number
  unmap: number
  prefetch: number
}

/**
 * A batch of bind/unbind requests as `bindBatch` takes it: `BATCH_WORDS`
 * u64 words per request, `[kind | obj << 32, addr, range, offset]`, kind
 * `BATCH_MAP` or `BATCH_UNMAP` (whose obj and offset are 0). Defined once,
 * in native/core/src/wire.rs (generated into wire.gen.ts); plain constants
 * here, as a re-export would compile to a getter.
 */
export const BATCH_WORDS: number = Wire.BATCH_WORDS
export const BATCH_MAP: number = Wire.BATCH_MAP
export const BATCH_UNMAP: number = Wire.BATCH_UNMAP

/** A split/merge walk in progress; each step is computed against the tree as it is then. */
export interface CursorCore {
  step(): OpRecord | undefined
  /** Abandons the walk early (frees what the engine holds for it). */
  close?(): void
}

export interface VmCreateOptions {
  name: string
  start: bigint
  range: bigint
  reserve?: { offset: bigint; range: bigint }
  /** Index into ERAS (hub.ts); default 0, the seed's drm_gpuva_mgr. */
  era?: number
  /** VM_FLAGS bits (era 1 and later). */
  flags?: number
  /** The VM-wide reservation's id on the device, 0 (default) for none. */
  resv?: number
}

export interface VmCore extends VmHubCore, PageTableCore {
  readonly engine: EngineName
  readonly name: string
  readonly start: bigint
  readonly range: bigint
  insert(addr: bigint, range: bigint, obj: number, offset: bigint): VaRecord
  /** Removes (and unlinks) a node; the kernel node is refused with a warning. */
  remove(addr: bigint, seq: number): VaRecord
  get(addr: bigint, seq: number): VaRecord | undefined
  kernelNode(): VaRecord | undefined
  find(addr: bigint, range: bigint): VaRecord | undefined
  findFirst(addr: bigint, range: bigint): VaRecord | undefined
  findPrev(start: bigint): VaRecord | undefined
  findNext(end: bigint): VaRecord | undefined
  intervalEmpty(addr: bigint, range: bigint): boolean
  rangeValid(addr: bigint, range: bigint): boolean
  /** Every node in address order, the kernel node included. */
  list(): VaRecord[]
  /** The ids of the GEM objects the mappings use, each once (0, no object, left out). */
  objectIds(): Iterable<number>
  /** drm_gpuva_for_each_va_range(start, end). */
  listRange(start: bigint, end: bigint): VaRecord[]
  /** Nodes in the tree, the kernel node included. */
  count(): number
  link(addr: bigint, seq: number): void
  unlink(addr: bigint, seq: number): void
  isLinked(addr: bigint, seq: number): boolean
  /** Mappings linked to an object, in link order. */
  gemVas(obj: number): VaRecord[]
  setInvalidated(addr: bigint, seq: number, invalidated: boolean): void
  smMap(addr: bigint, range: bigint, obj: number, offset: bigint): CursorCore
  smUnmap(addr: bigint, range: bigint): CursorCore
  /** Op lists come packed, `OP_WORDS` words per op (the codec: lib/packed-ops.ts). */
  smMapOps(addr: bigint, range: bigint, obj: number, offset: bigint): BigUint64Array
  smUnmapOps(addr: bigint, range: bigint): BigUint64Array
  prefetchOps(addr: bigint, range: bigint): BigUint64Array
  gemUnmapOps(obj: number): BigUint64Array
  /** Applies one step (map: insert + link; remap: replace by the pieces; unmap: unlink + remove). */
  apply(op: OpRecord): void
  bind(addr: bigint, range: bigint, obj: number, offset: bigint): OpCounts
  unbind(addr: bigint, range: bigint): OpCounts
  /**
   * Applies a packed batch (see `BATCH_WORDS`) in order, as `bind`/`unbind`
   * one request at a time would; returns the total step counts, and when
   * `perRequest` is given writes each request's `[map, remap, unmap]` at
   * `3 * i`. Stops at the first request that fails with a DrmBatchError
   * naming it; the requests before it stay applied.
   */
  bindBatch(words: BigUint64Array, perRequest: Uint32Array | null): OpCounts
  /**
   * An atomic bind array (Xe's VM_BIND with an array): the same words as
   * `bindBatch`, every request checked before any is applied, then applied
   * in order; when one fails, or request `failAt` is reached (an injected
   * failure, ENOSPC, as Xe's bind error injection gives; -1 for none), the
   * VA space is put back exactly as it was and a DrmBatchError with
   * `unwound` names the request. On success the state is what `bindBatch`
   * leaves (lib/gpuvm/array.md).
   */
  bindArray(words: BigUint64Array, perRequest: Uint32Array | null, failAt: number): OpCounts
  /**
   * Puts a removed mapping back with its own seq and flags, unlinked (the
   * inverse of an unmap step, for `GpuVm.undo`): EINVAL for a bad range,
   * seq 0, a seq never handed out or in use, or flags past 16 bits; EEXIST
   * on overlap.
   */
  reinsert(va: VaRecord): VaRecord
  takeWarnings(): WarningRecord[]
  destroy(): void
  readonly destroyed: boolean
}
