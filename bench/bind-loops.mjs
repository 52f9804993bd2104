// The vmbind workload driven from JavaScript, shared by bench/run.mjs (block 1) and
// bench/bind-calls.mjs: its requests as the public API takes them, and the two ways to apply them.

/**
 * The workload's requests (`requests` of dist/workloads/vmbind.js) with each
 * object id made a GemObject: each a literal of the fields the API reads, as
 * a caller writes one. Not `{ ...r, obj }`: V8's copy of a spread keeps the
 * fifth field (`offset`) out of the object, one more cache line a request to
 * read (8-9 ns of a batch's fill over a million requests: bench/PROFILE.md,
 * eighth round).
 */
export function requestObjects(drmsim, requests, params, ops) {
  const objects = new Map()
  const obj = (id) => objects.get(id) ?? objects.set(id, new drmsim.GemObject({ size: 1n << 30n })).get(id)
  return Array.from(requests({ ...drmsim.vmbindDefaults, ...params, ops }), (r) =>
    r.kind === 'map'
      ? { kind: 'map', addr: r.addr, range: r.range, obj: obj(r.obj), offset: r.offset }
      : { kind: 'unmap', addr: r.addr, range: r.range },
  )
}

/** One request at a time through the public API. */
export const bindOne = (vm, r) => (r.kind === 'map' ? vm.bind(r) : vm.unbind(r.addr, r.range))

/**
 * Every request, one `bind`/`unbind` each. An indexed loop, not `for...of`:
 * V8 allocates a function's feedback only after its first calls, so the
 * iterator set-up before a `for...of` loop had none, and the loop's optimized
 * code was thrown away at its next entry; runs then went on in the baseline
 * tier, calling the iterator's `next` builtin each request (about 100
 * instructions, 100-150 ns: bench/PROFILE-JS.md section 4), in some runs and
 * not others.
 */
export function bindEach(vm, reqs) {
  for (let i = 0; i < reqs.length; i++) bindOne(vm, reqs[i])
}

/** Every request through `batch` (a BindBatch of at least `size`), `size` requests filled and applied at a time. */
export function bindInBatches(vm, batch, size, reqs) {
  for (let at = 0; at < reqs.length; at += size) {
    batch.clear()
    const end = Math.min(at + size, reqs.length)
    for (let i = at; i < end; i++) {
      const r = reqs[i]
      r.kind === 'map' ? batch.map(r) : batch.unmap(r.addr, r.range)
    }
    vm.bindBatch(batch)
  }
}
