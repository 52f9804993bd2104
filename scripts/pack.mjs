#!/usr/bin/env node
/**
 * A rehearsal of the release, from an existing build (`npm run pack` builds
 * first): napi-rs's own steps in a staged copy of the package, then `npm pack`
 * where a release would `npm publish`.
 *
 * 1. Stage the files `npm pack` would ship, the manifest and npm/ in a
 *    scratch directory, and put each binary built here (`drmsim.<platform>.node`)
 *    in its artifacts/ folder. A configured target that was not built here
 *    gets a placeholder file, standing in for the binary CI builds on that
 *    platform; its package is not packed.
 * 2. `napi artifacts` moves each binary into its platform package
 *    (npm/<platform>/, `@drmsim/binding-<platform>`), as the release job does
 *    with CI's binaries (`npm run artifacts`).
 * 3. `napi pre-publish --skip-optional-publish` (what `prepublishOnly` runs at
 *    `npm publish`, without publishing) checks every platform package and
 *    writes the root manifest's optionalDependencies, one per target.
 * 4. `npm pack` packs the root and the platform packages built here.
 *
 * Usage: node scripts/pack.mjs [--out DIR]   (default: packs/)
 * Writes DIR/<name>-<version>.tgz for each package and DIR/packs.json:
 * { root: {name, version, tarball, files}, platforms: [{platform, name, version, tarball, files}] }.
 * Lifecycle scripts never run here (`--ignore-scripts`), so packing does not rebuild.
 */
import { execFileSync } from 'node:child_process'
import {
  copyFileSync,
  cpSync,
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
const fail = (message) => {
  console.error(`pack: ${message}`)
  process.exit(1)
}

const pkg = readJson(path.join(root, 'package.json'))
const { binaryName, targets: triples = [] } = pkg.napi
const targets = triples.map((triple) => parseTriple(triple))
const built = targets.filter((t) => existsSync(path.join(root, `${binaryName}.${t.platformArchABI}.node`)))
if (built.length === 0) fail(`no ${binaryName}.<platform>.node at ${root}; run \`npm run build\` first`)
for (const t of targets)
  if (!existsSync(path.join(root, 'npm', t.platformArchABI, 'package.json')))
    fail(`npm/${t.platformArchABI}/package.json is missing; run \`npx napi create-npm-dirs\``)
if (!existsSync(path.join(root, 'dist', 'index.js'))) fail('dist/ is missing; run `npm run build` first')

mkdirSync(out, { recursive: true })
for (const f of readdirSync(out)) if (f.endsWith('.tgz') || f === 'packs.json') rmSync(path.join(out, f))
const stage = mkdtempSync(path.join(tmpdir(), 'drmsim-pack-'))
try {
  // 1. The staged package: what npm would ship, npm/ (without binaries) and the artifacts.
  for (const file of npmPack(root, ['--dry-run']).files.map((f) => f.path)) {
    mkdirSync(path.dirname(path.join(stage, file)), { recursive: true })
    copyFileSync(path.join(root, file), path.join(stage, file))
  }
  cpSync(path.join(root, 'npm'), path.join(stage, 'npm'), {
    recursive: true,
    filter: (src) => !src.endsWith('.node'),
  })
  const artifacts = path.join(stage, 'artifacts')
  mkdirSync(artifacts)
  for (const t of targets) {
    const file = `${binaryName}.${t.platformArchABI}.node`
    if (built.includes(t)) copyFileSync(path.join(root, file), path.join(artifacts, file))
    else writeFileSync(path.join(artifacts, file), `placeholder for the ${t.triple} binary CI builds\n`)
  }

  // 2. and 3. napi-rs's release steps.
  run(napi, ['artifacts', '--output-dir', artifacts, '--npm-dir', 'npm'], stage)
  run(napi, ['pre-publish', '--tag-style', 'npm', '--no-gh-release', '--skip-optional-publish'], stage)
  const manifest = readJson(path.join(stage, 'package.json'))
  if (Object.keys(manifest.optionalDependencies ?? {}).length !== targets.length)
    fail(`napi pre-publish wrote ${JSON.stringify(manifest.optionalDependencies)}, not one entry per target`)

  // 4. The packages.
  const platforms = built.map((t) => {
    const dir = path.join(stage, 'npm', t.platformArchABI)
    const version = readJson(path.join(dir, 'package.json')).version
    if (version !== pkg.version)
      fail(`npm/${t.platformArchABI} is version ${version}, the root ${pkg.version}; run \`npx napi version\``)
    const p = npmPack(dir, ['--pack-destination', out])
    return {
      platform: t.platformArchABI,
      name: p.name,
      version: p.version,
      tarball: path.join(out, p.filename),
      files: p.files.map((f) => f.path),
    }
  })
  // napi artifacts also leaves the binaries at the stage's root, where `files` keeps them out of the package.
  const r = npmPack(stage, ['--pack-destination', out])
  const result = {
    root: { name: r.name, version: r.version, tarball: path.join(out, r.filename), files: r.files.map((f) => f.path) },
    platforms,
  }
  writeFileSync(path.join(out, 'packs.json'), `${JSON.stringify(result, null, 2)}\n`)
  for (const p of [result.root, ...platforms])
    console.log(`packed ${p.name}@${p.version}: ${p.tarball} (${p.files.length} files)`)
} finally {
  rmSync(stage, { recursive: true, force: true })
}
