// The replay line schema (lib/replay/schema.ts, zod) and the JSON Schema it
// publishes for editors (schema/replay.schema.json): the file is up to date,
// it accepts what the replay accepts and refuses what it refuses, and the
// checks' messages name the field and say what was wrong.
import Ajv2020 from 'ajv/dist/2020'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { HUB_OPS, REPLAY_OPS, ReplayError } from '../lib/replay/index.js'
import { checkRequest, replayJsonSchema } from '../lib/replay/schema.js'

const root = path.resolve(__dirname, '..')
const schemaFile = path.join(root, 'schema', 'replay.schema.json')
const examples = ['replay.jsonl', 'gpuvm-hub.jsonl'].map((f) => readFileSync(path.join(root, 'examples', f), 'utf8'))
const requests = examples.flatMap((e) => e.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')))

function refusal(line: string): ReplayError {
  try {
    checkRequest(JSON.parse(line), 'r.jsonl', 7)
  } catch (err) {
    expect(err).toBeInstanceOf(ReplayError)
    return err as ReplayError
  }
  throw new Error(`accepted: ${line}`)
}

describe('schema/replay.schema.json', () => {
  it('is what the zod schema gives (npm run schema writes it)', () => {
    const text = `${JSON.stringify(replayJsonSchema(), null, 2)}\n`
    expect(readFileSync(schemaFile, 'utf8'), 'schema/replay.schema.json is out of date: run npm run schema').toBe(text)
  })

  const ajv = new Ajv2020({ allErrors: true, strict: false })
  const valid = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')))

  it('accepts every request of the examples, and names every op', () => {
    for (const line of requests) expect(valid(JSON.parse(line)), `${line}: ${ajv.errorsText(valid.errors)}`).toBe(true)
    const schema = JSON.parse(readFileSync(schemaFile, 'utf8'))
    expect(schema.oneOf.map((s: { title: string }) => s.title)).toEqual(Object.keys(REPLAY_OPS))
  })

  it.each([
    '{"op":"frobnicate"}',
    '{"vm":"a"}',
    '[1,2]',
    '{"op":"bind","vm":"a","range":"0x1000"}',
    '{"op":"bind","vm":"a","adr":"0","addr":"0","range":"0x1000"}',
    '{"op":"bind","vm":"a","addr":-5,"range":"0x1000"}',
    '{"op":"bind","vm":"a","addr":"-5","range":"0x1000"}',
    '{"op":"bind","vm":"a","addr":1.5,"range":"0x1000"}',
    '{"op":"bind","vm":"a","addr":18446744073709551615,"range":"0x1000"}',
    '{"op":"vm.create","vm":"a b","range":"0x1000"}',
    '{"op":"vm.create","vm":"a","range":"0x1000","reserve":["0"]}',
    '{"op":"pin","obj":"bo1","domain":"hbm"}',
    '{"op":"validate","obj":"bo1","placement":"vram"}',
    '{"op":"validate","obj":"bo1","placement":[{"domain":"vram","urgent":true}]}',
    '{"op":"validate","obj":"bo1","placement":["current"]}',
    '{"op":"validate","obj":"bo1","placement":["vram","vram","vram","vram","vram","vram","vram","vram","vram"]}',
    '{"op":"unpin","obj":"bo1","domain":"vram"}',
    '{"op":"vm.create","vm":"a","range":"0x1000","era":"drm_gpuvm-8"}',
    '{"op":"vm.create","vm":"a","range":"0x1000","immediateMode":"yes"}',
    '{"op":"vm.exec_lock","vm":"a","exec":"e","numFences":-1}',
    '{"op":"vm.exec_lock","vm":"a","exec":"e","numFences":4294967296}',
    '{"op":"vm.exec_lock","vm":"a","exec":"e","objs":"bo1"}',
    '{"op":"vm.exec_lock","vm":"a","exec":"e","objs":["bo 1"]}',
    '{"op":"vm.exec_lock","vm":"a"}',
    '{"op":"vm.resv_add_fence","exec":"e","privateUsage":"exclusive"}',
    '{"op":"vm.validate","exec":"e"}',
    '{"op":"vmbo.put","vm":"a","obj":"bo1","deferred":1}',
    '{"op":"vm.info","vm":"a","obj":"bo1"}',
  ])('refuses what the replay refuses: %s', (line) => {
    refusal(line)
    expect(valid(JSON.parse(line))).toBe(false)
  })
})

describe('checkRequest', () => {
  it('the hub ops are the ones after validate, in table order', () => {
    const ops = Object.keys(REPLAY_OPS)
    expect(HUB_OPS).toEqual(ops.slice(ops.indexOf('validate') + 1))
    expect(HUB_OPS).toContain('vm.exec_lock')
  })

  it('reads the hub fields: eras, flags, fence counts, object lists, usages', () => {
    expect(
      checkRequest(
        JSON.parse('{"op":"vm.create","vm":"a","range":"0x1000","era":"drm_gpuvm-next","immediateMode":true}'),
        'r',
        2,
      ),
    ).toEqual({ op: 'vm.create', line: 2, vm: 'a', range: 0x1000n, era: 'drm_gpuvm-next', immediateMode: true })
    expect(
      checkRequest(
        JSON.parse('{"op":"vm.exec_lock","vm":"a","exec":"j","numFences":2,"objs":["x","y"],"ignoreDuplicates":false}'),
        'r',
        3,
      ),
    ).toEqual({
      op: 'vm.exec_lock',
      line: 3,
      vm: 'a',
      exec: 'j',
      numFences: 2,
      objs: ['x', 'y'],
      ignoreDuplicates: false,
    })
    expect(
      checkRequest({ op: 'vm.resv_add_fence', exec: 'j', privateUsage: 'read', extobjUsage: 'write' }, 'r', 4),
    ).toEqual({ op: 'vm.resv_add_fence', line: 4, exec: 'j', privateUsage: 'read', extobjUsage: 'write' })
  })

  it('reads u64 fields as bigints and places as objects', () => {
    expect(
      checkRequest(
        JSON.parse('{"op":"validate","obj":"b","placement":["vram",{"domain":"gtt","fallback":true,"desired":false}]}'),
        'r.jsonl',
        3,
      ),
    ).toEqual({ op: 'validate', obj: 'b', line: 3, placement: [{ domain: 'vram' }, { domain: 'gtt', fallback: true }] })
    expect(
      checkRequest(
        JSON.parse('{"op":"vm.create","vm":"a","range":"0xFFFFFFFFFFFFFFFF","reserve":[0,"4096"],"start":7}'),
        'r.jsonl',
        1,
      ),
    ).toEqual({
      op: 'vm.create',
      line: 1,
      vm: 'a',
      range: (1n << 64n) - 1n,
      start: 7n,
      reserve: { offset: 0n, range: 4096n },
    })
    expect(checkRequest({ op: 'bind', vm: 'a', addr: '0', range: '1', obj: null }, 'r', 1).obj).toBeNull()
    expect(checkRequest({ op: 'vm.create', vm: 'a', range: '1', reserve: null }, 'r', 1)).not.toHaveProperty('reserve')
  })

  it.each([
    ['{"op":"unpin","obj":"bo1","domain":"vram"}', 'domain', 'unknown field for "unpin"; expected obj'],
    ['{"op":"ctx.init","ctx":"c","x":1}', 'x', 'unknown field for "ctx.init"; expected ctx'],
    [
      '{"op":"device","vram":1,"gpu":1}',
      'gpu',
      'unknown field for "device"; expected vram, gtt, system, profile, wwClass',
    ],
    ['{"op":"bind","vm":"a","range":"0x1000"}', 'addr', 'missing (required by "bind")'],
    // A missing field is reported before a bad one that comes later in the op's order.
    ['{"op":"bind","range":-1}', 'vm', 'missing (required by "bind")'],
    [
      '{"op":"vm.create","vm":"a","range":"1","reserve":["0","-1"]}',
      'reserve',
      'range (item 1): must be a u64 (decimal or 0x hex string), got "-1"',
    ],
    [
      '{"op":"vm.create","vm":"a","range":"1","reserve":["0x10000000000000000","0"]}',
      'reserve',
      'offset (item 0): must be a u64 (decimal or 0x hex string), got "0x10000000000000000", which is 2^64 or more',
    ],
    [
      '{"op":"vm.create","vm":"a","range":"1","reserve":{"offset":0}}',
      'reserve',
      'must be [offset, range] (two u64s) or null, got {"offset":0}',
    ],
    [
      '{"op":"validate","obj":"b","placement":["vram",{"domain":"hbm"}]}',
      'placement',
      'place 1: domain: must be one of system, gtt, vram, got "hbm"',
    ],
    [
      '{"op":"validate","obj":"b","placement":["current"]}',
      'placement',
      'place 0: must be one of system, gtt, vram, got "current"',
    ],
    [
      '{"op":"validate","obj":"b","placement":[{"domain":"vram","desired":5}]}',
      'placement',
      'place 0: desired must be true or false, got 5',
    ],
    [
      '{"op":"validate","obj":"b","placement":[5]}',
      'placement',
      'place 0: must be a domain name or {"domain":..., "desired"|"fallback"|"topDown": true}, got 5',
    ],
    [
      '{"op":"validate","obj":"b","placement":["vram","vram","vram","vram","vram","vram","vram","vram","vram"]}',
      'placement',
      'at most 8 places, got 9',
    ],
    [
      '{"op":"obj.create","obj":"x","size":"1","profile":"gem-vram-2025"}',
      'profile',
      'must be one of gem-vram-2019, gem-vram-2024, shmem, got "gem-vram-2025"',
    ],
    [
      `{"op":"obj.create","obj":"${'x'.repeat(129)}","size":"1"}`,
      'obj',
      `must be a name (1 to 128 printable ASCII characters, no spaces), got "${'x'.repeat(56)}...`,
    ],
    ['{"op":"__proto__"}', 'op', `unknown op "__proto__"; expected one of ${Object.keys(REPLAY_OPS).join(', ')}`],
    [
      '{"op":"vm.exec_lock","vm":"a","exec":"e","objs":["ok","not ok"]}',
      'objs',
      'item 1: must be a name (1 to 128 printable ASCII characters, no spaces), got "not ok"',
    ],
    [
      '{"op":"vm.exec_lock","vm":"a","exec":"e","numFences":1.5}',
      'numFences',
      'must be an integer in [0, 2^32 - 1], got 1.5',
    ],
    [
      '{"op":"vm.create","vm":"a","range":"1","era":"drm_gpuvm-8"}',
      'era',
      'must be one of drm_gpuva_mgr-6.6, drm_gpuvm-7.2, drm_gpuvm-next, got "drm_gpuvm-8"',
    ],
    ['{"op":"vmbo.evict","vm":"a","obj":"b","evict":"no"}', 'evict', 'must be true or false, got "no"'],
    [
      '{"op":"vm.resv_add_fence","exec":"e","extobjUsage":"x"}',
      'extobjUsage',
      'must be one of kernel, write, read, bookkeep, got "x"',
    ],
    ['{"op":"vm.validate","exec":"e"}', 'placement', 'missing (required by "vm.validate")'],
    ['{"op":"vmap","obj":"b","__proto__":1}', '__proto__', 'unknown field for "vmap"; expected obj'],
    ['null', undefined, 'a request must be a JSON object, got null'],
    ['{"op":null}', 'op', 'must be a string, got null'],
  ])('%s: field %s', (line, field, message) => {
    const e = refusal(line)
    expect(e.field).toBe(field)
    expect(e.line).toBe(7)
    expect(e.message).toBe(`r.jsonl:7:${field === undefined ? '' : ` field "${field}":`} ${message}`)
  })
})
