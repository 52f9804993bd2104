/**
 * The replay's old single-module path, kept for the importers that name it
 * (lib/render/render.ts, __test__/replay.spec.ts, __test__/scale.spec.ts);
 * new code imports ./index.js.
 */
export * from './index.js'
