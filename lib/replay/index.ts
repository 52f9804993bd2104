/**
 * `drmsim replay`: a user's own workload, one JSON request per line (JSON
 * Lines), run against one simulated device and its VA spaces.
 *
 * Every line is checked field by field before anything runs (schema.ts): a
 * bad line is a `ReplayError` of kind 'format' naming the line and the field.
 * A request the simulation refuses is a `ReplayError` of kind 'simulation'
 * carrying the kernel's errno. The `Replayer` (replayer.ts) runs one line at a
 * time through a table of one handler per op; read.ts reads texts, iterables
 * and files (streamed, with a bounded line length, and the number of live
 * handles capped, so no input allocates without bound); format.ts prints;
 * the `Recorder` (record.ts) writes what a program does as a replay file;
 * hub.ts is what both do for the drm_gpuvm ops (`HUB_OPS`): the driver
 * callbacks a replayed drm_gpuvm gets and its exec contexts.
 */
export {
  DEFAULT_MAX_HANDLES,
  DEFAULT_MAX_LINE_BYTES,
  MAX_LINE_DEPTH,
  HUB_OPS,
  REPLAY_OPS,
  ReplayError,
  checkRequest,
  type ReplayOpName,
  type ReplayPlace,
  type ReplayRequest,
  type ExpectedMapping,
} from './schema.js'
export type {
  ReplayOptions,
  ReplayPiece,
  ReplayRecord,
  ReplayResult,
  ReplayStep,
  ReplaySummary,
  ReplayValue,
} from './record.js'
export {
  Recorder,
  type RecorderExecOptions,
  type RecorderHandle,
  type RecorderLockWalkOptions,
  type RecorderOptions,
  type RecorderVmOptions,
} from './record.js'
export { Replayer } from './replayer.js'
// Atomic bind arrays.
export type { RecordedArrayOp, ReplayArrayOp } from './array.js'
// Bind queues and fences.
export { QUEUE_OPS } from './queue.js'
export { QueueRecorder, type RecorderLink } from './record-queue.js'
export { feedFile, replay, replayFile, splitLines, type ReplayFileOptions } from './read.js'
export { errorJson, recordJson, recordLines, replayLineOf, stepLine, summaryJson, summaryText } from './format.js'
