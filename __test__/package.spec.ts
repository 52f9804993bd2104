// The package as npm ships it: pack the root and the platform package
// (scripts/pack.mjs: napi-rs's release steps, then npm pack, over the build
// `npm test` just made), install the tarballs
// in empty directories outside the repo, and use drmsim there as a user would:
// require and import, tsc on a consumer, the CLI, the lints; then without the
// platform package, where the reference engine takes over with one warning, or
// DRMSIM_ENGINE=native fails with the real load error.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = path.resolve(__dirname, '..')
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))
const built = existsSync(path.join(root, 'dist', 'index.js'))

interface Packed {
  name: string
  version: string
  tarball: string
  files: string[]
}
interface Packs {
  root: Packed
  platforms: (Packed & { platform: string })[]
}
interface Run {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

/**
 * The environment of every child: no npm script variables of the run that
 * started vitest (npm_config_local_prefix would point npm back at the repo),
 * no drmsim or napi-rs switches, and no PATH entry inside the repo (`npm test`
 * puts its node_modules/.bin first).
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (
      /^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|npm_config_loglevel$|npm_command$|INIT_CWD$|NODE_OPTIONS$|NODE_PATH$|DRMSIM_|NAPI_RS_)/i.test(
        k,
      )
    )
      continue
    env[k] = v
  }
  env.PATH = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((p) => p && !path.resolve(p).startsWith(root + path.sep))
    .join(path.delimiter)
  return { ...env, ...extra }
}

/** Runs a command without blocking the worker. */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  const start = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Math.round(performance.now() - start) }))
  })
}

async function ok(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  const r = await run(cmd, args, cwd, env)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.code}\n${r.stdout}\n${r.stderr}`)
  return r
}

const node = (cwd: string, file: string, env: Record<string, string> = {}) => run(process.execPath, [file], cwd, env)
const npx = (cwd: string, args: string[], env: Record<string, string> = {}) =>
  run('npx', ['--no-install', ...args], cwd, env)

/** The fallback warnings a child printed (`(node:PID) [DRMSIM_NO_NATIVE] Warning: ...`). */
const fallbackWarnings = (stderr: string) => stderr.split('\n').filter((l) => l.includes('[DRMSIM_NO_NATIVE]'))

const SUMMARY =
  /^requests 1000\nops map=\d+ remap=\d+ unmap=\d+\nmappings \d+\ntrace_fnv1a64 [0-9a-f]{16}\nstate_fnv1a64 [0-9a-f]{16}\n$/

let tmp = ''
let app = '' // root and platform tarballs installed together
let bare = '' // the root tarball alone, as on a platform without a binary
let packs: Packs
let platform: Packs['platforms'][number]
const timings: Record<string, number> = {}

/** A small program using a VA space, printing what it saw as JSON on its last line. */
const USE_CJS = `
const drmsim = require('drmsim')
const warnings = []
process.on('warning', (w) => { if (w.code === 'DRMSIM_NO_NATIVE') warnings.push(w.message) })
const { GpuVm, GemObject } = drmsim
const vm = new GpuVm({ name: 'pkg', range: 1n << 48n, reserve: { offset: 0n, range: 0x1000n } })
const again = new GpuVm({ name: 'again', range: 1n << 40n })
const bo = new GemObject({ size: 1n << 20n })
const counts = vm.bind({ addr: 0x100000n, range: 0x3000n, obj: bo, offset: 0n })
const kinds = [...vm.smMapOps({ addr: 0x101000n, range: 0x1000n, obj: bo, offset: 0x1000n })].map((op) => op.kind)
const bound = vm.bind({ addr: 0x101000n, range: 0x1000n, obj: bo, offset: 0x1000n })
setImmediate(() => console.log(JSON.stringify({
  engines: [vm.engine, again.engine],
  counts, kinds, bound, mappings: vm.mappingCount,
  native: drmsim.nativeAvailable().ok,
  resolved: require.resolve('drmsim'),
  addons: Object.keys(require.cache).filter((k) => k.endsWith('.node')),
  // zod loads with the first replay line checked, not with the package.
  zod: Object.keys(require.cache).some((k) => k.includes('/node_modules/zod/')),
  warnings,
})))
`

const USE_ESM = `
import drmsim, { GpuVm, GemObject, DrmError, nativeAvailable } from 'drmsim'
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const vm = new GpuVm({ name: 'esm', range: 1n << 48n })
const bo = new GemObject({ size: 1n << 20n })
vm.bind({ addr: 0x200000n, range: 0x2000n, obj: bo, offset: 0n })
let einval = null
try { vm.bind({ addr: 1n << 48n, range: 0x1000n, obj: bo, offset: 0n }) } catch (e) { einval = e instanceof DrmError ? e.errno : String(e) }
let deep = null
try { await import('drmsim/dist/gpuvm/gpuvm.js') } catch (e) { deep = e.code }
console.log(JSON.stringify({
  engine: vm.engine, mappings: vm.mappingCount, einval, deep,
  sameAsDefault: drmsim.GpuVm === GpuVm, native: nativeAvailable().ok,
  version: require('drmsim/package.json').version,
}))
`

const CONSUMER_MTS = `
import { GpuVm, GemObject, DrmError, type Op, type EngineName } from 'drmsim'

export function plan(): { kinds: Op['kind'][]; engine: EngineName } {
  using vm = new GpuVm({ name: 'ts', range: 1n << 48n, engine: 'native' })
  const bo = new GemObject({ size: 1n << 20n })
  vm.bind({ addr: 0x100000n, range: 0x2000n, obj: bo, offset: 0n })
  const kinds = [...vm.smUnmapOps(0x100000n, 0x1000n)].map((op) => op.kind)
  // @ts-expect-error addresses are bigint, not number
  vm.unbind(0x100000, 0x1000n)
  return { kinds, engine: vm.engine }
}
export const isDrmError = (e: unknown): e is DrmError => e instanceof DrmError
`

const CONSUMER_CTS = `
import drmsim = require('drmsim')
const vm: drmsim.GpuVm = new drmsim.GpuVm({ name: 'cts', range: 1n << 40n })
const counts: drmsim.OpCounts = vm.unbind(0n, 0x1000n)
// @ts-expect-error no such engine
new drmsim.GpuVm({ name: 'x', range: 1n, engine: 'fast' })
export = counts
`

describe.runIf(built)('the packed package', () => {
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'drmsim-package-'))
    expect(path.relative(root, tmp).startsWith('..')).toBe(true)
    const packed = await ok(
      process.execPath,
      [path.join(root, 'scripts', 'pack.mjs'), '--out', path.join(tmp, 'packs')],
      root,
    )
    timings.pack = packed.ms
    packs = JSON.parse(readFileSync(path.join(tmp, 'packs', 'packs.json'), 'utf8'))
    expect(packs.platforms).toHaveLength(1)
    platform = packs.platforms[0]
    app = path.join(tmp, 'app')
    bare = path.join(tmp, 'bare')
    // Both tarballs in one command, so npm never asks the registry for the
    // unpublished platform package; the root's dependencies come from the registry.
    const install = async (dir: string, tarballs: string[]) => {
      mkdirSync(dir)
      await ok('npm', ['init', '-y'], dir)
      const r = await ok('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', ...tarballs], dir)
      timings[`install ${path.basename(dir)}`] = r.ms
    }
    await Promise.all([install(app, [packs.root.tarball, platform.tarball]), install(bare, [packs.root.tarball])])
  }, 600_000)

  afterAll(() => {
    console.log(`package.spec timings (ms): ${JSON.stringify(timings)}`)
    if (tmp && !process.env.DRMSIM_KEEP_PACKAGE_TEST) rmSync(tmp, { recursive: true, force: true })
  })

  it('ships the loader and dist in the root package, the binary only in the platform package', () => {
    const rootFiles = packs.root.files
    expect(rootFiles).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'index.js',
        'index.d.ts',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli/main.js',
        'LICENSE',
        'CHANGELOG.md',
        'schema/replay.schema.json',
      ]),
    )
    expect(rootFiles.filter((f) => f.endsWith('.node'))).toEqual([])
    expect(
      rootFiles.filter(
        (f) =>
          !/^(dist\/|index\.js$|index\.d\.ts$|package\.json$|README\.md$|LICENSE$|CHANGELOG\.md$|schema\/replay\.schema\.json$)/.test(
            f,
          ),
      ),
    ).toEqual([])
    // Under the project's scope, as napi-rs names them: `${napi.packageName}-<platform>`.
    expect(platform.name).toBe(`${pkg.napi.packageName}-${platform.platform}`)
    expect(platform.name.startsWith('@drmsim/')).toBe(true)
    expect(platform.version).toBe(pkg.version)
    expect(platform.files.sort()).toEqual([
      'README.md',
      `${pkg.napi.binaryName}.${platform.platform}.node`,
      'package.json',
    ])
    // The installed manifests: the platform package is picked by os/cpu/libc,
    // and the root lists every target as an optional dependency.
    const installed = (name: string) =>
      JSON.parse(readFileSync(path.join(app, 'node_modules', name, 'package.json'), 'utf8'))
    const p = installed(platform.name)
    expect(p.main).toBe(`${pkg.napi.binaryName}.${platform.platform}.node`)
    expect([p.os, p.cpu]).toEqual([[process.platform], [process.arch]])
    const r = installed(pkg.name)
    expect(r.optionalDependencies[platform.name]).toBe(pkg.version)
    expect(Object.keys(r.optionalDependencies)).toHaveLength(pkg.napi.targets.length)
    expect(r.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' })
    // What napi pre-publish writes, every target under the scope; the metadata travels to each package.
    expect(Object.keys(r.optionalDependencies).every((n) => n.startsWith(`${pkg.napi.packageName}-`))).toBe(true)
    for (const key of ['repository', 'homepage', 'bugs', 'keywords', 'license'] as const) {
      expect(r[key]).toEqual(pkg[key])
      expect(p[key]).toEqual(pkg[key])
    }
    expect(
      existsSync(path.join(app, 'node_modules', pkg.name, `${pkg.napi.binaryName}.${platform.platform}.node`)),
    ).toBe(false)
  })

  it('require() loads the native engine from the platform package', async () => {
    writeFileSync(path.join(app, 'use.cjs'), USE_CJS)
    const r = await node(app, 'use.cjs')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(out).toMatchObject({
      engines: ['native', 'native'],
      counts: { map: 1, remap: 0, unmap: 0 },
      kinds: ['remap', 'map'],
      bound: { map: 1, remap: 1, unmap: 0 },
      mappings: 3,
      native: true,
      zod: false,
      warnings: [],
    })
    expect(out.resolved).toBe(path.join(app, 'node_modules', 'drmsim', 'dist', 'index.js'))
    expect(out.addons).toEqual([
      path.join(app, 'node_modules', platform.name, platform.files.find((f) => f.endsWith('.node'))!),
    ])
  })

  it('import from ESM sees the named exports, and only the exported entry points', async () => {
    writeFileSync(path.join(app, 'use.mjs'), USE_ESM)
    const r = await node(app, 'use.mjs')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({
      engine: 'native',
      mappings: 1,
      einval: 'EINVAL',
      deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      sameAsDefault: true,
      native: true,
      version: pkg.version,
    })
  })

  it('type-checks an ESM and a CommonJS consumer with tsc', async () => {
    writeFileSync(path.join(app, 'consumer.mts'), CONSUMER_MTS)
    writeFileSync(path.join(app, 'consumer.cts'), CONSUMER_CTS)
    const tsconfig = {
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        target: 'es2022',
        lib: ['es2022', 'esnext.disposable'],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
      },
      files: ['consumer.mts', 'consumer.cts'],
    }
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--listFiles'], app)
    timings.tsc = r.ms
    expect(r.code, r.stdout + r.stderr).toBe(0)
    // The types came from the installed package; from the repo, only tsc's own lib files.
    const listed = r.stdout.split('\n').filter(Boolean)
    expect(listed).toContain(path.join(app, 'node_modules', 'drmsim', 'dist', 'index.d.ts'))
    expect(
      listed.filter(
        (f) => !f.startsWith(app + path.sep) && !f.startsWith(path.join(root, 'node_modules', 'typescript') + path.sep),
      ),
    ).toEqual([])
  })

  it('drmsim --version is the package version; the replay JSON Schema is exported', async () => {
    const v = await npx(app, ['drmsim', '--version'])
    expect(v.code, v.stderr).toBe(0)
    expect(v.stdout).toBe(`${pkg.version}\n`)
    writeFileSync(path.join(app, 'schema.cjs'), "console.log(require('drmsim/schema/replay.schema.json').$schema)")
    const s = await node(app, 'schema.cjs')
    expect(s.stdout).toBe('https://json-schema.org/draft/2020-12/schema\n')
  })

  it('npx drmsim vmbind --ops 1000 --machine prints the summary, on the native engine', async () => {
    const r = await npx(app, ['drmsim', 'vmbind', '--ops', '1000', '--machine'])
    timings['npx drmsim vmbind'] = r.ms
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(SUMMARY)
    expect(fallbackWarnings(r.stderr)).toEqual([])
    const json = await npx(app, ['drmsim', 'vmbind', '--ops', '1000', '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({ engine: 'native', requests: 1000 })
  })

  it('passes publint and arethetypeswrong', async () => {
    const extract = path.join(tmp, 'extract')
    mkdirSync(extract)
    await ok('tar', ['-xzf', packs.root.tarball, '-C', extract], tmp)
    const bin = path.join(root, 'node_modules', '.bin')
    const publint = await run(
      path.join(bin, 'publint'),
      [path.join(extract, 'package'), '--pack', 'false', '--strict'],
      tmp,
    )
    expect(publint.code, publint.stdout + publint.stderr).toBe(0)
    expect(publint.stdout).not.toMatch(/Errors:|Warnings:|Suggestions:/)
    const attw = await run(path.join(bin, 'attw'), [packs.root.tarball, '--format', 'json'], tmp)
    timings.lint = publint.ms + attw.ms
    expect(attw.code, attw.stdout + attw.stderr).toBe(0)
    // Problems grouped by kind, for every resolution (node10, node16 from CJS and ESM, bundler).
    const report = JSON.parse(attw.stdout)
    expect(report.analysis.types).toBeTruthy()
    expect(report.problems).toEqual({})
  })

  describe('without a native binary', () => {
    it('falls back to the reference engine with one warning naming the platform and the load error', async () => {
      writeFileSync(path.join(bare, 'use.cjs'), USE_CJS)
      const r = await node(bare, 'use.cjs')
      expect(r.code, r.stderr).toBe(0)
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
      expect(out).toMatchObject({
        engines: ['reference', 'reference'],
        counts: { map: 1, remap: 0, unmap: 0 },
        kinds: ['remap', 'map'],
        bound: { map: 1, remap: 1, unmap: 0 },
        mappings: 3,
        native: false,
        zod: false,
        addons: [],
      })
      expect(out.warnings).toHaveLength(1)
      const [warning] = out.warnings as string[]
      expect(warning).toContain(`no native binary loads on ${platform.platform}`)
      expect(warning).toContain(`Cannot find module '${platform.name}'`)
      expect(warning).toMatch(/using the reference engine$/)
      expect(fallbackWarnings(r.stderr)).toHaveLength(1)
    })

    it('the CLI prints the same summary on the reference engine, after one warning', async () => {
      const [native, fallback] = await Promise.all([
        npx(app, ['drmsim', 'vmbind', '--ops', '1000', '--machine']),
        npx(bare, ['drmsim', 'vmbind', '--ops', '1000', '--machine']),
      ])
      expect(fallback.code, fallback.stderr).toBe(0)
      expect(fallback.stdout).toMatch(SUMMARY)
      expect(fallback.stdout).toBe(native.stdout)
      expect(fallbackWarnings(fallback.stderr)).toHaveLength(1)
    })

    it('DRMSIM_ENGINE=native throws the load error instead, and the CLI fails', async () => {
      const script = `
const { GpuVm } = require('drmsim')
let warned = 0
process.on('warning', (w) => { if (w.code === 'DRMSIM_NO_NATIVE') warned++ })
const tryNew = (o) => { try { new GpuVm({ name: 'n', range: 1n << 40n, ...o }); return null } catch (e) { return { message: e.message, code: e.code, cause: e.cause && e.cause.message } } }
const env = tryNew({})
delete process.env.DRMSIM_ENGINE
const option = tryNew({ engine: 'native' })
const fallback = new GpuVm({ name: 'f', range: 1n << 40n }).engine
setImmediate(() => console.log(JSON.stringify({ env, option, fallback, warned })))
`
      writeFileSync(path.join(bare, 'strict.cjs'), script)
      const r = await node(bare, 'strict.cjs', { DRMSIM_ENGINE: 'native' })
      expect(r.code, r.stderr).toBe(0)
      const out = JSON.parse(r.stdout)
      expect(out.env).toEqual(out.option)
      expect(out.env.code).toBe('DRMSIM_NO_NATIVE')
      expect(out.env.message).toMatch(
        new RegExp(`^drmsim: the native engine was asked for, but no native binary loads on ${platform.platform}`),
      )
      expect(out.env.message).toContain(`Cannot find module '${platform.name}'`)
      expect(out.env.cause).toMatch(/^Cannot find native binding/)
      // Asking for native never warns; the default still falls back, once.
      expect([out.fallback, out.warned]).toEqual(['reference', 1])

      const cli = await npx(bare, ['drmsim', 'vmbind', '--ops', '10'], { DRMSIM_ENGINE: 'native' })
      expect(cli.code).not.toBe(0)
      expect(cli.stdout).toBe('')
      expect(cli.stderr).toContain(
        `the native engine was asked for, but no native binary loads on ${platform.platform}`,
      )
      expect(cli.stderr).toContain(`Cannot find module '${platform.name}'`)
      expect(fallbackWarnings(cli.stderr)).toEqual([])
    })

    it('a binary that is there but does not load is named with its dlopen error', async () => {
      const broken = path.join(tmp, 'broken.node')
      writeFileSync(broken, 'not a shared object\n')
      // NAPI_RS_NATIVE_LIBRARY_PATH replaces every candidate of the generated loader.
      const fallback = await node(app, 'use.cjs', { NAPI_RS_NATIVE_LIBRARY_PATH: broken })
      expect(fallback.code, fallback.stderr).toBe(0)
      const out = JSON.parse(fallback.stdout.trim().split('\n').pop()!)
      expect(out.engines).toEqual(['reference', 'reference'])
      expect(out.warnings).toHaveLength(1)
      expect(out.warnings[0]).toContain(`no native binary loads on ${platform.platform}`)
      expect(out.warnings[0]).toContain(broken)
      expect(out.warnings[0]).not.toContain('Cannot find module')

      const strict = await npx(app, ['drmsim', 'vmbind', '--ops', '10'], {
        NAPI_RS_NATIVE_LIBRARY_PATH: broken,
        DRMSIM_ENGINE: 'native',
      })
      expect(strict.code).not.toBe(0)
      expect(strict.stderr).toContain(
        `the native engine was asked for, but no native binary loads on ${platform.platform}: ${broken}`,
      )
    })
  })
})
