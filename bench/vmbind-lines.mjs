// The default vmbind workload's first `ops` requests as replay JSON Lines (one
// VA space "a", one 1 GiB object per object id, then bind/unbind lines), for
// the replay benchmarks (bench/run.mjs, bench/replay-lines.mjs).
export function vmbindLines(drmsim, requests, ops) {
  const lines = ['{"op":"vm.create","vm":"a","range":"0x1000000000000","reserve":["0","0x1000"]}']
  const reqs = [...requests({ ...drmsim.vmbindDefaults, ops })]
  const objs = [...new Set(reqs.filter((r) => r.kind === 'map').map((r) => r.obj))].sort((a, b) => a - b)
  for (const o of objs) lines.push(`{"op":"obj.create","obj":"o${o}","size":"0x40000000"}`)
  const hex = (v) => `"0x${v.toString(16)}"`
  for (const r of reqs)
    lines.push(
      r.kind === 'map'
        ? `{"op":"bind","vm":"a","addr":${hex(r.addr)},"range":${hex(r.range)},"obj":"o${r.obj}","offset":${hex(r.offset ?? 0n)}}`
        : `{"op":"unbind","vm":"a","addr":${hex(r.addr)},"range":${hex(r.range)}}`,
    )
  return lines
}
