#!/usr/bin/env node
/**
 * Packs drmsim for npm, from an existing build (`npm run pack` builds first):
 *
 * 1. `napi artifacts` places each binary built here (`drmsim.<platform>.node`
 *    at the root) into its platform package `npm/<platform>/`;
 * 2. `npm pack` packs those platform packages;
 * 3. the root package is packed from a staged copy of exactly the files
 *    `npm pack` would ship, whose manifest gets one optionalDependency per
 *    target of `napi.targets`, as `napi prepublish` writes them at release
 *    time (they stay out of the repo's package.json: none is on the registry,
 *    and `npm ci` refuses a lockfile without them).
 *
 * Usage: node scripts/pack.mjs [--out DIR]   (default: packs/)
 * Writes DIR/<name>-<version>.tgz for each package and DIR/packs.json:
 * { root: {name, version, tarball, files}, platforms: [{platform, name, version, tarball, files}] }.
 * Lifecycle scripts never run here (`--ignore-scripts`), so packing does not rebuild.
 */
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTriple } from '@napi-rs/cli'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const outArg = args.indexOf('--out')
const out = path.resolve(outArg >= 0 ? args[outArg + 1] : path.join(root, 'packs'))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const napi = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'napi.cmd' : 'napi')

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))
const run = (cmd, argv, cwd) => execFileSync(cmd, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
/** `npm pack --json` of a directory: the one package it describes. */
const npmPack = (dir, extra) => JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', ...extra], dir))[0]

const pkg = readJson(path.join(root, 'package.json'))
const { binaryName, targets: triples = [] } = pkg.napi
const targets = triples.map((triple) => parseTriple(triple))
const built = targets.filter((t) => existsSync(path.join(root, `${binaryName}.${t.platformArchABI}.node`)))
if (built.length === 0) {
  console.error(`pack: no ${binaryName}.<platform>.node at ${root}; run \`npm run build\` first`)
  process.exit(1)
}
for (const t of built) {
  if (!existsSync(path.join(root, 'npm', t.platformArchABI, 'package.json'))) {
    console.error(`pack: npm/${t.platformArchABI}/package.json is missing; run \`npx napi create-npm-dirs\``)
    process.exit(1)
  }
}
if (!existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('pack: dist/ is missing; run `npm run build` first')
  process.exit(1)
}

mkdirSync(out, { recursive: true })
for (const f of readdirSync(out)) if (f.endsWith('.tgz') || f === 'packs.json') rmSync(path.join(out, f))
const scratch = mkdtempSync(path.join(tmpdir(), 'drmsim-pack-'))
try {
  // 1. `napi artifacts` over the binaries built here only: the config it is given
  //    names just their targets, since it refuses to run with a configured target missing.
  const artifacts = path.join(scratch, 'artifacts')
  mkdirSync(artifacts)
  for (const t of built)
    copyFileSync(
      path.join(root, `${binaryName}.${t.platformArchABI}.node`),
      path.join(artifacts, `${binaryName}.${t.platformArchABI}.node`),
    )
  const config = path.join(scratch, 'napi.json')
  writeFileSync(config, JSON.stringify({ ...pkg.napi, targets: built.map((t) => t.triple) }))
  run(napi, ['artifacts', '--output-dir', artifacts, '--npm-dir', 'npm', '--config-path', config], root)

  // 2. The platform packages.
  const platforms = built.map((t) => {
    const dir = path.join(root, 'npm', t.platformArchABI)
    const manifest = readJson(path.join(dir, 'package.json'))
    if (manifest.version !== pkg.version)
      throw new Error(
        `npm/${t.platformArchABI} is version ${manifest.version}, the root ${pkg.version}; run \`npx napi version\``,
      )
    const p = npmPack(dir, ['--pack-destination', out])
    return {
      platform: t.platformArchABI,
      name: p.name,
      version: p.version,
      tarball: path.join(out, p.filename),
      files: p.files.map((f) => f.path),
    }
  })

  // 3. The root package, staged with its optionalDependencies.
  const listed = npmPack(root, ['--dry-run']).files.map((f) => f.path)
  const stage = path.join(scratch, 'root')
  for (const file of listed) {
    const to = path.join(stage, file)
    mkdirSync(path.dirname(to), { recursive: true })
    copyFileSync(path.join(root, file), to)
  }
  const bin = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {})
  for (const file of bin) chmodSync(path.join(stage, file), 0o755)
  const optionalDependencies = { ...pkg.optionalDependencies }
  for (const t of targets) optionalDependencies[`${pkg.name}-${t.platformArchABI}`] = pkg.version
  writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify({ ...pkg, optionalDependencies }, null, 2)}\n`)
  const r = npmPack(stage, ['--pack-destination', out])
  const result = {
    root: { name: r.name, version: r.version, tarball: path.join(out, r.filename), files: r.files.map((f) => f.path) },
    platforms,
  }
  writeFileSync(path.join(out, 'packs.json'), `${JSON.stringify(result, null, 2)}\n`)
  for (const p of [result.root, ...platforms])
    console.log(`packed ${p.name}@${p.version}: ${p.tarball} (${p.files.length} files)`)
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
