/**
 * Replay ops for bind queues and fences (lib/replay/queue.ts):
 * examples/bind-queues.jsonl (IGT xe_vm bind-execqueues-independent and
 * -conflict, an error chain, an atomic submission that fails, a destroyed
 * queue) replayed on both engines with its times, errors and final
 * mappings checked by hand; format errors and what the records print.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  QUEUE_OPS,
  Recorder,
  type ReplayRecord,
  ReplayError,
  recordJson,
  recordLines,
  replay,
} from '../lib/replay/index.js'
import { replayJsonSchema } from '../lib/replay/schema.js'

const engines = ['reference', 'native'] as const
const EXAMPLE = path.resolve(__dirname, '../examples/bind-queues.jsonl')
/** One job of one step on the default timing: 2000 + 500 ns. */
const STEP = 2_500n

async function run(engine: (typeof engines)[number], text = readFileSync(EXAMPLE, 'utf8')) {
  const records: ReplayRecord[] = []
  const result = await replay(text, { engine, onRecord: (r) => records.push(r) })
  const jobs = new Map(
    records.filter((r) => r.request.op === 'queue.bind' && r.result.job).map((r) => [r.result.job as string, r]),
  )
  return { result, records, jobs }
}

const HEAD = [
  '{"op":"vm.create","vm":"a","range":"0x1000000000000","era":"drm_gpuvm-7.2"}',
  '{"op":"obj.create","obj":"bo","size":"0x100000"}',
  '{"op":"queue.create","vm":"a","queue":"q"}',
]
const bind = (addr: string, extra = '') =>
  `{"op":"queue.bind","queue":"q","ops":[{"op":"bind","addr":"${addr}","range":"0x1000","obj":"bo"}]${extra}}`

describe.each(engines)('bind-queue replay on the %s engine', (engine) => {
  it('replays examples/bind-queues.jsonl: times, errors, the final mappings', async () => {
    const { result, records, jobs } = await run(engine)
    expect(result.summary.errors).toBe(0)
    const at = (name: string) => {
      const r = jobs.get(name)!.result
      return [r.start, r.end, r.fenceError]
    }
    // Submitted with all they wait on known: times at once.
    expect(at('initial')).toEqual([0n, STEP, null])
    // Independent: free runs at submission (10 us), the held bind has no time while the spinner runs.
    expect(at('free')).toEqual([10_000n, 10_000n + STEP, null])
    expect([at('held'), jobs.get('free')!.result.conflicts]).toEqual([[null, null, null], []])
    // Conflict: blocked waits for held2 (a new 2 MiB page table).
    expect(jobs.get('blocked')!.result.conflicts).toEqual(['held2'])
    const signal = records.filter((r) => r.request.op === 'fence.signal')
    expect(signal.map((r) => r.result.scheduled)).toEqual([
      ['held 0x1adb0-0x1b774'], // 110000-112500
      ['held2 0x35b60-0x36524', 'blocked 0x36524-0x36ee8'], // 220000-222500, then 225000
      ['doomed 0x3d090-0x3d090 ECANCELED', 'orphan 0x3d090-0x3d090 ECANCELED'],
    ])
    // The error chain: e1 and e2 skip their update and signal EIO at the GPU job's end; after runs.
    expect([at('e1'), at('e2'), at('after')]).toEqual([
      [240_000n, 240_000n, 'EIO'],
      [240_000n, 240_000n, 'EIO'],
      [240_000n, 240_000n + STEP, null],
    ])
    const advance = records.filter((r) => r.request.op === 'clock.advance').map((r) => r.result.signalled)
    expect(advance).toEqual([
      ['initial@0x9c4'],
      ['free@0x30d4'],
      ['held@0x1b774'],
      [],
      ['held2@0x36524', 'blocked@0x36ee8'],
      ['e1@0x3a980 EIO', 'e2@0x3a980 EIO', 'after@0x3b344'],
    ])
    // The failed atomic submission: ENOSPC as expected, nothing applied, no job.
    const failed = records.find((r) => r.request.failAt !== undefined)!
    expect([failed.result.errno, failed.result.failedOp, failed.result.unwound]).toEqual(['ENOSPC', 1, true])
    expect(records.find((r) => r.request.op === 'queue.destroy')!.result.cancelled).toEqual(['doomed'])
    const vm = result.vms.get('a')!
    expect([...vm.vas()].filter((v) => !v.isKernelNode).map((v) => v.addr)).toEqual([
      0x1a_0000n,
      0x1a_1000n,
      0x3a_0000n,
      0x3a_1000n,
      0x60_0000n,
      0x4000_0000n,
      0x4000_1000n,
      0x4000_2000n,
    ])
    expect(result.summary.ops).toEqual({ map: 9, remap: 0, unmap: 1 })
  })

  it('prints the records as text and JSON, the same on both engines', async () => {
    const mine = await run(engine)
    const other = await run(engine === 'native' ? 'reference' : 'native')
    // Object ids count per process: left out.
    const text = (x: typeof mine) =>
      x.records.flatMap((r, i) => recordLines(r, i)).filter((l) => !l.startsWith('obj.create'))
    expect(text(mine)).toEqual(text(other))
    expect(mine.result.summary.stateFnv1a64).toBe(other.result.summary.stateFnv1a64)
    const lines = text(mine)
    expect(lines).toContain(
      'queue.bind bind1 map=1 remap=0 unmap=0 job=free duration=0x9c4 start=0x2710 end=0x30d4 fence_error=- conflicts=[]',
    )
    expect(lines).toContain('fence.expect e1 signaled=1 signal_at=0x3a980 fence_error=EIO')
    // A fence's error is `errno` in the request, so a JSON record (whose `error` is the record's) replays.
    const json = recordJson(mine.records.find((r) => r.request.fence === 'gpu')!, 0)
    expect([json.errno, json.signalAt, json.error]).toEqual(['EIO', '0x3a980', undefined])
  })

  it('reports an unmet fence.expect, a bad name, a queue on a seed-era VA space, an out-fence signalled by hand', async () => {
    const fail = async (lines: string[]) => {
      const err = await replay(lines.join('\n'), { engine }).catch((e) => e)
      expect(err).toBeInstanceOf(ReplayError)
      return [err.kind, err.line, err.field, err.message.replace(/^[^ ]+ /, '')]
    }
    expect(
      await fail([...HEAD, bind('0x0', ',"outFence":"j"'), '{"op":"fence.expect","fence":"j","signaled":true}']),
    ).toEqual(['simulation', 5, undefined, "fence.expect: EINVAL: fence 'j': not signalled, expected signalled"])
    expect(
      await fail([...HEAD, bind('0x0', ',"outFence":"j"'), '{"op":"fence.expect","fence":"j","signalAt":"1"}']),
    ).toEqual(['simulation', 5, undefined, "fence.expect: EINVAL: fence 'j': signals at 0x9c4, expected 0x1"])
    expect((await fail([...HEAD, bind('0x0', ',"inFences":["nope"]')]))[2]).toBe('inFences')
    expect(
      (await fail([...HEAD, bind('0x0', ',"outFence":"j"'), bind('0x1000', ',"outFence":"j"')])).slice(0, 3),
    ).toEqual(['format', 5, 'outFence'])
    expect((await fail([...HEAD, bind('0x0', ',"outFence":"j"'), '{"op":"fence.signal","fence":"j"}']))[3]).toMatch(
      /out-fence: its job signals it/,
    )
    const seed = ['{"op":"vm.create","vm":"a","range":"0x1000000000000"}', '{"op":"queue.create","vm":"a","queue":"q"}']
    expect((await fail(seed))[3]).toMatch(/bind queues need a drm_gpuvm/)
    expect((await fail([...HEAD, '{"op":"clock.advance","ns":"-1"}'])).slice(0, 3)).toEqual(['format', 4, 'ns'])
    expect((await fail([...HEAD, '{"op":"fence.signal","fence":"f","errno":"EWHAT"}'])).slice(0, 3)).toEqual([
      'format',
      4,
      'errno',
    ])
  })
})

describe('recording bind queues', () => {
  it('records every queue and fence op; the file replays to the same jobs and VA space', async () => {
    const rec = new Recorder()
    const vm = rec.createVm({ name: 'a', range: 1n << 48n, era: 'drm_gpuvm-7.2' })
    const bo = rec.createObject({ name: 'bo', size: 0x10_0000n })
    const q = rec.queues
    const [q0, q1] = [q.createQueue(vm, { name: 'bind0' }), q.createQueue(vm, { latency: 100n, perStep: 10n })]
    const spin = q.createFence()
    const gpu = q.createFence({ name: 'gpu', signalAt: 50n, error: 'EIO' })
    const held = q.submit(q0, [{ op: 'bind', addr: 0x1000n, range: 0x1000n, obj: bo }], {
      inFences: [spin],
      outFence: 'held',
    })
    const bad = q.submit(q1, [{ op: 'bind', addr: 0x40_0000n, range: 0x1000n }], { inFences: [gpu], outFence: 'bad' })
    expect(() => q.submit(q1, [{ op: 'bind', addr: 0n, range: 0x1000n }], { failAt: 0 })).toThrow(/ENOSPC|request 0/)
    q.advance(1_000n)
    q.signalFence(spin, 'ECANCELED')
    q.expectFence(held.outFence)
    q.expectFence(bad.outFence)
    const doomed = q.submit(q0, [{ op: 'unbind', addr: 0x1000n, range: 0x1000n }], { inFences: [q.createFence()] })
    expect(q.destroyQueue(q0)).toEqual([doomed])
    // bad conflicts with held (the first bind makes the tables of the whole VA space), so it ends after it.
    expect([held.error, bad.error, bad.conflicts, bad.end]).toEqual(['ECANCELED', 'EIO', [held], 1_000n])
    const text = rec.text()
    const ops = new Set(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).op as string),
    )
    expect(QUEUE_OPS.filter((op) => !ops.has(op))).toEqual([])
    const again = await replay(text, { keepGoing: true })
    expect(again.summary.errors).toBe(1) // the failAt submission, as the program saw it
    expect([...again.vms.get('a')!.vas()].map((v) => v.addr)).toEqual([...vm.vas()].map((v) => v.addr))
  })
})

describe('bind-queue replay schema', () => {
  it('publishes the queue and fence ops in the JSON Schema, as schema/replay.schema.json has them', () => {
    const published = JSON.parse(readFileSync(path.resolve(__dirname, '../schema/replay.schema.json'), 'utf8'))
    expect(published).toEqual(JSON.parse(JSON.stringify(replayJsonSchema())))
    const titles = JSON.stringify(published)
    for (const op of [
      'fence.create',
      'fence.signal',
      'fence.expect',
      'queue.create',
      'queue.bind',
      'queue.destroy',
      'clock.advance',
    ])
      expect(titles).toContain(`"title":"${op}"`)
  })
})
