/**
 * drmsim: a simulator of the Linux kernel's DRM GPU memory-management stack.
 *
 * - `GpuVm`: the GPU VA space and its split/merge engine (seed 004);
 *   `BindBatch` carries many bind/unbind requests into it in one call.
 * - `GemObject`: the buffers mappings are backed by; `Device` with its
 *   reservation locks, fences, pin/vmap, placement and eviction.
 * - `RangeAllocator`, `BuddyAllocator`: drm_mm and drm_buddy.
 * - `vmbind`: the canonical bind/unbind workload, on either engine;
 *   `replay`: your own workload as JSON Lines.
 */
export { GpuVm, type GpuVmOptions, type MapRequest, type StepCallbacks } from './gpuvm/gpuvm.js'
export { VmBo } from './gpuvm/vm-bo.js'
export type { GpuVmDriverOps } from './gpuvm/hub.js'
export {
  GpuVmExec,
  type GpuVmExecOptions,
  missingLocks,
  prepareObjects,
  prepareObjectsOp,
  prepareRange,
  prepareRangeOp,
  prepareVm,
  prepareVmOp,
  resvAddFence,
  smMapExecLock,
  smMapExecLockOp,
  smUnmapExecLock,
  smUnmapExecLockOp,
  validate,
} from './gpuvm/vm-exec.js'
export { ERAS, type EraName, VA_FLAGS, VM_FLAGS } from './contract/hub.js'
export { BindBatch } from './gpuvm/batch.js'
// The page-table cost model (issue 15).
export {
  PageTable,
  PAGE_TABLE_PROFILES,
  type PageTableCost,
  type PageTableLevel,
  type PageTableOccupancy,
  type PageTableProfile,
  type PageTableProfileName,
  type PageTableRecord,
} from './gpuvm/page-table.js'
// Atomic bind arrays.
export type { BindArrayOptions } from './gpuvm/array.js'
export { PackedOps } from './gpuvm/packed-ops.js'
export { Va } from './gpuvm/va.js'
export { GemObject, type GemObjectOptions } from './device/gem.js'
export {
  OpList,
  type Op,
  type OpCounts,
  type OpMap,
  type OpUnmap,
  type MapOp,
  type RemapOp,
  type UnmapOp,
  type PrefetchOp,
  type DriverOp,
  type AnyOp,
  remapToUnmapRange,
} from './gpuvm/ops.js'
export { DrmError, DrmBatchError, DrmWarning, type Errno, type Warning } from './base/errors.js'
export type { EngineName } from './contract/vm.js'
export { defaultEngine, nativeAvailable } from './engines.js'
export { vmbind, type VmbindCost, type VmbindOptions, type VmbindOutput } from './workloads/vmbind-run.js'
// Per-request page-table costs of a vmbind run (ptspeed).
export { type PteWritesSpread, pteWritesSpread, type VmbindRequestCosts } from './workloads/vmbind-cost.js'
export { defaultParams as vmbindDefaults, type VmbindParams, type TraceMode } from './workloads/vmbind.js'
export { U64_MAX } from './base/check.js'
export {
  Device,
  type DeviceOptions,
  type Violation,
  type CreateObjectOptions,
  type FenceOptions,
} from './device/device.js'
export {
  Resv,
  WwAcquireCtx,
  AcquireCtx,
  Fence,
  LockGuard,
  runSync,
  // execloop: what an op yields for a run of locks in one engine call.
  SyncRun,
  type Op as LockOp,
  type Request,
  type LockReturn,
} from './device/resv.js'
export { Mapping } from './device/gem.js'
// ttm-lru: LRU priorities, bulk moves, eviction policy and hooks, swap (issue 16).
export {
  BulkMove,
  type BulkMoveOptions,
  type EvictionPolicy,
  type ObjectPressure,
  type SwapOptions,
  type SwapTotals,
} from './device/eviction.js'
// Exported from where it is defined: a re-export through eviction.js would make that module's exports
// object a dictionary (an accessor property), and each call into it an inline-cache call.
export { MAX_PRIORITY } from './contract/pressure.js'
export type { PressureRecord, SwapTotalsRecord } from './contract/pressure.js'
export { Exec, type ExecOptions, type ExecResult } from './device/exec.js'
export {
  Scheduler,
  SimThread,
  SplitMix64,
  explore,
  seeds,
  type RunReport,
  type Deadlock,
  type ThreadBody,
} from './device/sched.js'
export type { DomainName, ProfileName, UsageName, WwClassName } from './contract/device.js'
export {
  RangeAllocator,
  MmNode,
  MmScan,
  type RangeAllocatorOptions,
  type InsertRequest,
  type ReserveRequest,
  type ScanRequest,
  type InsertMode,
  type Hole,
  type MmStats,
  type AddressRange,
  type ColorAdjust,
  type ColorAdjustFn,
  type ColorNeighbour,
  type ReplaceOptions,
} from './alloc/mm.js'
export {
  BuddyAllocator,
  BuddyBlock,
  type BuddyAllocatorOptions,
  type BuddyAllocRequest,
  type BuddyStats,
  type BlockInfo,
  type BuddyFreeOptions,
  type FreeBlockInfo,
} from './alloc/buddy.js'
export {
  replay,
  replayFile,
  Replayer,
  ReplayError,
  REPLAY_OPS,
  recordLines,
  recordJson,
  replayLineOf,
  HUB_OPS,
  type ReplayOpName,
  type ReplayValue,
  type RecorderVmOptions,
  type RecorderExecOptions,
  type RecorderLockWalkOptions,
  Recorder,
  type RecorderOptions,
  type RecorderHandle,
  summaryText,
  type ReplayOptions,
  type ReplayFileOptions,
  type ReplayRecord,
  type ReplayRequest,
  // Atomic bind arrays: a bind.array line's ops, and Recorder.bindArray's.
  type ReplayArrayOp,
  type RecordedArrayOp,
  // Bind queues and fences: the replay's ops, Recorder.queues.
  QUEUE_OPS,
  QueueRecorder,
  type RecorderLink,
  type ReplayResult,
  type ReplaySummary,
  type ReplayStep,
  // Expectations (replay/expect.ts).
  type ExpectedMapping,
} from './replay/index.js'
export { KERNEL_RESULTS, kernelResult, type KernelResult } from './workloads/golden.js'
export {
  renderVaSpace,
  renderDomains,
  renderReplay,
  renderScenario,
  stackSvgs,
  PALETTE,
  type VaRenderOptions,
  type DomainRenderOptions,
  type ScenarioPicture,
} from './render/render.js'
export { renderStats, type StatsRow, type StatsValue, type StatsRenderOptions } from './render/plot.js'
export { domainsOf, occupancyColumns } from './device/occupancy.js'
export type {
  Place,
  Placement,
  PlaceDomain,
  ValidateResult,
  DomainStats,
  MemoryOptions,
} from './device/placement.js'
// Time for TTM moves (issue 16).
export {
  COPY_DEFAULTS,
  COPY_PAIRS,
  copyTimeline,
  type CopyJob,
  type CopyOptions,
  type CopyPair,
  type PendingDestroy,
  type ValidateOptions,
  type WaitIdleOptions,
} from './device/copy-engine.js'
export type { ReserveOptions, ReserveReturn } from './device/resv.js'
// The dmem cgroup controller (issue 16).
export {
  Cgroup,
  Dmem,
  type CgroupLimits,
  type CgroupStats,
  type CreateCgroupOptions,
  type DmemOptions,
  type DmemRegion,
} from './device/dmem.js'
export { DMEM_MODES, type DmemModeName } from './contract/dmem.js'
// Memory types, private types, multihop rules and resources (ttm-res).
export type { MemoryTypeOptions, MultihopRule, PrivateTypeOptions, ResourceInfo } from './device/memory-types.js'
// ttm-pool: TTM page pools per caching and order (issue 16).
export {
  type DevicePoolOptions,
  MAX_PAGE_ORDER,
  TTM_SHRINKER_BATCH,
  TtmPool,
  TtmPools,
  TtmTt,
  type PageCaching,
  type PoolTypeOwner,
  type TtmChunk,
  type TtmPageInfo,
  type TtmPoolOptions,
  type TtmPoolsOptions,
  type TtmPoolTotals,
  type TtmPoolTypeInfo,
} from './device/pool.js'
export type { PoolTotalsRecord } from './contract/pool.js'
export {
  scenarios,
  runScenario,
  type Scenario,
  type ScenarioResult,
  type ScenarioOptions,
} from './workloads/scenarios.js'
// Bind queues: asynchronous binds with fences on the simulated clock.
export {
  BindJob,
  type BindJobState,
  type BindPlan,
  BindQueue,
  type BindQueueOptions,
  type BindRequest,
  type BindStep,
  DEFAULT_BIND_TIMING,
  DEFAULT_PT_TIMING,
  type SubmitOptions,
} from './gpuvm/bind-queue.js'
export { ERRNO_CODES, ERRNO_NAMES, errnoName } from './base/errors.js'
