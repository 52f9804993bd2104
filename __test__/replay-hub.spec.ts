// The replay's drm_gpuvm hub ops: examples/gpuvm-hub.jsonl on both engines (what each line prints),
// the ops' errors, a VM torn down by its last unmap, and the command line (diff --engines, --json).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  HUB_OPS,
  type ReplayRecord,
  ReplayError,
  recordJson,
  recordLines,
  replay,
  replayFile,
  replayLineOf,
} from '../lib/replay/index.js'

const root = path.resolve(__dirname, '..')
const example = path.join(root, 'examples/gpuvm-hub.jsonl')
const bin = path.join(root, JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).bin)
const engines = ['native', 'reference'] as const
const lines = (...l: string[]) => `${l.join('\n')}\n`

function drmsim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

async function printed(text: string, engine?: (typeof engines)[number]) {
  const records: ReplayRecord[] = []
  const r = await replay(text, { engine, onRecord: (rec) => records.push(rec) })
  return { r, records, text: records.flatMap((rec, i) => recordLines(rec, i)) }
}

async function failure(text: string): Promise<ReplayError> {
  const err = await replay(text, { file: 'hub.jsonl' }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ReplayError)
  return err as ReplayError
}

describe.each(engines)('examples/gpuvm-hub.jsonl on the %s engine', (engine) => {
  it('prints the vm_bos, lists, lock sets and missing locks the story turns on', async () => {
    const records: ReplayRecord[] = []
    const r = await replayFile(example, { engine, onRecord: (rec) => records.push(rec) })
    expect(r.summary).toMatchObject({ requests: 71, vms: 4, errors: 0, violations: 0, warnings: 1, mappings: 5 })
    const text = records.flatMap((rec, i) => recordLines(rec, i))
    const expected = [
      // The bind job: lock_array takes the VM's reservation and the texture; nothing is missing.
      'vm.create xe era=drm_gpuvm-7.2 refcount=1',
      'vm.exec_lock xe locked=[xe/resv,tex] evict=[]',
      'vmbo.obtain xe tex vm_bo=tex#1:ref1:ext',
      'vmbo.extobj_add xe tex vm_bo=tex#1:ref1:ext extobj=[tex#1]',
      'bind xe missing_locks=[]',
      'vm.resv_add_fence bind1 fence=1 fenced=2',
      'vm.info xe era=drm_gpuvm-7.2 refcount=5 resv_protected=1 immediate_mode=0 vm_bos=[tex#1:ref1:ext,pool#2:ref1] extobj=[tex#1] evict=[] defer=[]',
      // VRAM pressure: both evicted; under RESV_PROTECTED only the private pool is on the list yet.
      'vm.info xe era=drm_gpuvm-7.2 refcount=5 resv_protected=1 immediate_mode=0 vm_bos=[tex#1:ref1:ext:evicted,pool#2:ref1:evicted] extobj=[tex#1] evict=[pool#2] defer=[]',
      'vm.exec_lock xe locked=[xe/resv,tex] evict=[pool#2,tex#1]',
      'vm.validate job validated=[pool#2,tex#1] bytes_moved=0x300000 evictions=0 evict=[]',
      'vm.resv_add_fence job fence=2 fenced=2',
      'vmbo.evict xe tex vm_bo=tex#1:ref1:ext:evicted evict=[]',
      'vmbo.evict xe tex vm_bo=tex#1:ref1:ext evict=[]',
      // madvise: the op list of a split, the VA space unchanged.
      'list op remap 0x800000 0x40000 keep=0 prev=0x800000,0x10000,-,0x0 next=0x820000,0x20000,-,0x20000',
      'list op map 0x810000 0x10000 - 0x0',
      'vm.madvise xe map=1 remap=1 unmap=0',
      // The msm bug, and the walks' lock sets.
      'vm.sm_unmap_exec_lock msm locked=[msm/resv,a]',
      'unbind msm missing_locks=[b] freed_vm_bos=[a#1,b#2]',
      'vm.sm_map_exec_lock msm locked=[msm/resv,c,a]',
      'bind msm missing_locks=[]',
      'vm.exec_lock msm locked=[a,c] evict=[]',
      'vm.exec_lock msm locked=[msm/resv,a,c,b] evict=[]',
      // Immediate mode: zombies until the deferred cleanup; the last put frees the VM.
      'vmbo.put imm scratch released=1 vm_bo=scratch#2:ref0:ext:zombie defer=[scratch#2]',
      'vm.info imm era=drm_gpuvm-7.2 refcount=3 resv_protected=0 immediate_mode=1 vm_bos=[imported#1:ref0:ext:zombie,scratch#2:ref0:ext:zombie] extobj=[] evict=[] defer=[imported#1,scratch#2]',
      'vm.deferred_cleanup imm cleaned=2 refcount=1 freed_vm_bos=[imported#1,scratch#2]',
      'vm.put imm refcount=0 vm_freed=1',
      // The leak: the put leaves it alive, the forced teardown warns.
      'vm.put imm refcount=1',
      'vm.destroy imm vm_freed=1',
      'warning defer-not-empty: VM BO cleanup list should be empty (1 vm_bo(s))',
    ]
    let from = 0
    for (const line of expected) {
      const at = text.indexOf(line, from)
      expect(at, `${line} (in order)`).toBeGreaterThanOrEqual(0)
      from = at + 1
    }
    expect([...r.vms.keys()]).toEqual(['xe', 'msm'])
    expect([r.objects.get('tex')!.domain, r.objects.get('pool')!.domain]).toEqual(['vram', 'vram'])
    expect(r.vms.get('xe')!.evictList()).toEqual([])
  })

  it('the JSON records carry the lists as arrays and the op list, and replay to the same state', async () => {
    const { r, records } = await printed(readFileSync(example, 'utf8'), engine)
    const json = records.map((rec, i) => recordJson(rec, i))
    const validate = json.find((j) => j.op === 'vm.validate')!
    expect(validate.result).toEqual({
      validated: ['pool#2', 'tex#1'],
      bytesMoved: '0x300000',
      evictions: 0,
      evict: [],
    })
    const madvise = json.find((j) => j.op === 'vm.madvise')!
    expect((madvise.opList as { kind: string }[]).map((s) => s.kind)).toEqual(['remap', 'map'])
    const again = await replay(json.map((j) => replayLineOf(JSON.stringify(j))!).join('\n'), { engine })
    expect(again.summary).toEqual(r.summary)
  })
})

it('the example uses every hub op, and the hub fields of vm.create, obj.create, bind and unbind', () => {
  const requests = readFileSync(example, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  const used = new Set(requests.map((q) => q.op as string))
  expect(HUB_OPS.filter((op) => !used.has(op))).toEqual([])
  const fields = (op: string) => new Set(requests.filter((q) => q.op === op).flatMap((q) => Object.keys(q)))
  for (const f of ['era', 'resvProtected', 'immediateMode']) expect(fields('vm.create')).toContain(f)
  expect(fields('obj.create')).toContain('vm')
  expect(fields('bind')).toContain('exec')
  expect(fields('unbind')).toContain('exec')
  for (const f of ['numFences', 'objs', 'addr', 'range']) expect(fields('vm.exec_lock')).toContain(f)
})

describe('hub ops: what they refuse', () => {
  const HUB = '{"op":"vm.create","vm":"a","range":"0x100000000","era":"drm_gpuvm-7.2"}'
  const SEED = '{"op":"vm.create","vm":"s","range":"0x100000000"}'
  const BO = '{"op":"obj.create","obj":"bo","size":"0x10000"}'

  it.each([
    ['a hub op on a seed-era VA space', lines(SEED, '{"op":"vm.info","vm":"s"}'), 2, /vm\.info: EINVAL: .*seed era/],
    [
      'VM flags in the seed era',
      lines('{"op":"vm.create","vm":"s","range":"0x1000","era":"drm_gpuva_mgr-6.6","resvProtected":true}'),
      1,
      /vm\.create: EINVAL: VM flags need era drm_gpuvm-7.2/,
    ],
    [
      'a vm_bo op on an object without one',
      lines(HUB, BO, '{"op":"vmbo.get","vm":"a","obj":"bo"}'),
      3,
      /no live vm_bo/,
    ],
    [
      'a private object of a seed-era VA space',
      lines(SEED, '{"op":"obj.create","obj":"p","size":"0x1000","vm":"s"}'),
      2,
      /not a drm_gpuvm/,
    ],
    [
      'vm.put with no creator reference left',
      lines(
        HUB,
        BO,
        '{"op":"bind","vm":"a","addr":"0x1000","range":"0x1000","obj":"bo"}',
        '{"op":"vm.put","vm":"a"}',
        '{"op":"vm.put","vm":"a"}',
      ),
      5,
      /vm\.put: EINVAL/,
    ],
    ['an exec lock on a seed-era VA space', lines(SEED, '{"op":"vm.exec_lock","vm":"s","exec":"e"}'), 2, /EINVAL/],
  ])('%s is a simulation error naming the line', async (_, text, line, message) => {
    const e = await failure(text)
    expect(e.kind).toBe('simulation')
    expect(e.line).toBe(line)
    expect(e.message).toMatch(message)
  })

  it.each([
    [
      'objs and a range',
      lines(HUB, BO, '{"op":"vm.exec_lock","vm":"a","exec":"e","objs":["bo"],"addr":"0","range":"0x1000"}'),
      'objs',
      /objs \(lock_array\) or addr and range/,
    ],
    [
      'a range without its address',
      lines(HUB, '{"op":"vm.exec_lock","vm":"a","exec":"e","range":"0x1000"}'),
      'addr',
      /both addr and range/,
    ],
    ['an unknown exec context', lines(HUB, '{"op":"vm.exec_unlock","exec":"e"}'), 'exec', /unknown exec "e"/],
    [
      'a duplicate exec context',
      lines(HUB, '{"op":"vm.exec_lock","vm":"a","exec":"e"}', '{"op":"vm.exec_lock","vm":"a","exec":"e"}'),
      'exec',
      /duplicate exec name "e"/,
    ],
    [
      'an unknown object in objs',
      lines(HUB, '{"op":"vm.exec_lock","vm":"a","exec":"e","objs":["x"]}'),
      'objs',
      /unknown obj "x"/,
    ],
    [
      'resv and vm together',
      lines(HUB, BO, '{"op":"obj.create","obj":"p","size":"0x1000","resv":"bo","vm":"a"}'),
      'vm',
      /resv \(an object\) or vm \(a drm_gpuvm\), not both/,
    ],
  ])('%s is a format error naming the field', async (_, text, field, message) => {
    const e = await failure(text)
    expect(e.kind).toBe('format')
    expect(e.field).toBe(field)
    expect(e.message).toMatch(message)
  })
})

describe('hub ops: lifetimes', () => {
  it.each(engines)(
    'a drm_gpuvm its creator let go is torn down with its last mapping; its name is free again (%s)',
    async (engine) => {
      const { r, text } = await printed(
        lines(
          '{"op":"vm.create","vm":"a","range":"0x100000000","era":"drm_gpuvm-7.2"}',
          '{"op":"obj.create","obj":"bo","size":"0x10000"}',
          '{"op":"bind","vm":"a","addr":"0x1000","range":"0x2000","obj":"bo"}',
          '{"op":"vm.put","vm":"a"}',
          '{"op":"unbind","vm":"a","addr":"0x0","range":"0x10000"}',
          '{"op":"vm.create","vm":"a","range":"0x100000000"}',
        ),
        engine,
      )
      expect(text).toContain('vm.put a refcount=2')
      expect(text).toContain('op unmap 0x1000 0x2000 bo 0x0 keep=0')
      expect(text).toContain('unbind a freed_vm_bos=[bo#1] vm_freed=1')
      expect(r.summary).toMatchObject({ errors: 0, mappings: 0, vms: 2 })
      expect(r.vms.get('a')!.era).toBe('drm_gpuva_mgr-6.6')
    },
  )

  it('a vm.create without the hub fields is the seed-era VA space, as before', async () => {
    const { r, text } = await printed(lines('{"op":"vm.create","vm":"a","range":"0x100000000"}'))
    expect(r.vms.get('a')!.era).toBe('drm_gpuva_mgr-6.6')
    expect(text).toEqual(['req 0 vm.create a 0x100000000'])
    const hub = await printed(lines('{"op":"vm.create","vm":"a","range":"0x100000000","immediateMode":false}'))
    expect(hub.r.vms.get('a')!.era).toBe('drm_gpuvm-7.2')
  })

  it('exec contexts count against the handle limit', async () => {
    const text = lines(
      '{"op":"vm.create","vm":"a","range":"0x100000000","era":"drm_gpuvm-7.2"}',
      '{"op":"vm.exec_lock","vm":"a","exec":"e1"}',
    )
    const err = await replay(text, { maxHandles: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((err as ReplayError).message).toMatch(/too many live handles/)
  })
})

describe('drmsim replay examples/gpuvm-hub.jsonl', () => {
  it('prints the same on both engines (diff --engines)', () => {
    const r = drmsim('diff', '--engines', example)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^identical: /)
  })

  it('--json output replays to the same state', () => {
    const json = drmsim('replay', example, '--json')
    expect(json.code).toBe(0)
    const sum = JSON.parse(json.stdout.trim().split('\n').at(-1)!).summary
    const again = spawnSync(process.execPath, [bin, 'replay', '-', '--summary'], {
      input: json.stdout,
      encoding: 'utf8',
    })
    expect(again.status).toBe(0)
    expect(again.stdout).toContain(`state_fnv1a64 ${sum.stateFnv1a64}`)
  })
})
