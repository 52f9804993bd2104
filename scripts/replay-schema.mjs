#!/usr/bin/env node
/**
 * Writes schema/replay.schema.json, the JSON Schema of one replay line, from
 * the zod schema in lib/replay/schema.ts (through the build in dist/).
 * `npm run schema` builds first; __test__/schema.spec.ts fails when the file
 * is out of date.
 *
 * Usage: node scripts/replay-schema.mjs [--check]   (--check: exit 1 if the file differs)
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { replayJsonSchema } = require(path.join(root, 'dist', 'replay', 'schema.js'))
const file = path.join(root, 'schema', 'replay.schema.json')
const text = `${JSON.stringify(replayJsonSchema(), null, 2)}\n`
if (process.argv.includes('--check')) {
  let old = ''
  try {
    old = readFileSync(file, 'utf8')
  } catch {}
  if (old !== text) {
    console.error(`${path.relative(root, file)} is out of date: run npm run schema`)
    process.exit(1)
  }
} else {
  writeFileSync(file, text)
  console.log(`wrote ${path.relative(root, file)}`)
}
