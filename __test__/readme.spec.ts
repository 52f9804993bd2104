// Every ```ts block of the README is a program that type-checks under
// `strict` and runs: each is written to a directory outside the repository
// where `drmsim` is the built package (dist/, as `npm test` leaves it),
// compiled with tsc as a consumer would (module node16, lib esnext.disposable
// for `using`) and run with node. A block whose info string says `continues`
// goes on from the block before it (the two are one program); `no-run` marks
// an illustrative block, which is left out.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const root = path.resolve(__dirname, '..')
const readme = readFileSync(path.join(root, 'README.md'), 'utf8')

interface Program {
  /** README line of its first block. */
  line: number
  code: string
  blocks: number
}

/** The README's ```ts blocks as programs (a `continues` block joins the one before it). */
function programs(text: string): { programs: Program[]; skipped: number[] } {
  const out: Program[] = []
  const skipped: number[] = []
  const fence = /^```(\S*)[ \t]*([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    const [, lang, info, code] = m
    if (lang !== 'ts' && lang !== 'typescript') continue
    const line = text.slice(0, m.index).split('\n').length
    const words = info.split(/\s+/).filter(Boolean)
    if (words.includes('no-run')) {
      skipped.push(line)
      continue
    }
    if (words.includes('continues')) {
      const last = out.at(-1)
      if (!last) throw new Error(`README.md:${line}: a \`continues\` block with no block before it`)
      last.code += `\n// README.md:${line}\n${code}`
      last.blocks++
    } else out.push({ line, code: `// README.md:${line}\n${code}`, blocks: 1 })
  }
  return { programs: out, skipped }
}

const found = programs(readme)
const built = existsSync(path.join(root, 'dist', 'index.js'))
let dir = ''

describe.runIf(built)("the README's TypeScript", () => {
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('has blocks to check, and few that are illustrative only', () => {
    expect(found.programs.length).toBeGreaterThanOrEqual(3)
    expect(found.skipped.length).toBeLessThanOrEqual(2)
  })

  it('type-checks under strict and runs, block by block', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'drmsim-readme-'))
    // `drmsim` resolves to this checkout's package.json (exports: dist/), its dependencies to its node_modules.
    mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true })
    symlinkSync(root, path.join(dir, 'node_modules', 'drmsim'), 'dir')
    symlinkSync(
      path.join(root, 'node_modules', '@types', 'node'),
      path.join(dir, 'node_modules', '@types', 'node'),
      'dir',
    )
    const files = found.programs.map((p) => {
      const file = `readme-${p.line}.ts`
      writeFileSync(path.join(dir, file), p.code)
      return file
    })
    const tsconfig = {
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        target: 'es2022',
        lib: ['es2022', 'esnext.disposable'],
        strict: true,
        outDir: 'out',
        types: ['node'],
        skipLibCheck: false,
        noEmitOnError: true,
      },
      files,
    }
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
    const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], {
      cwd: dir,
      encoding: 'utf8',
    })
    // Messages name readme-<line>.ts: the README line where the failing program starts.
    expect(tsc.stdout + tsc.stderr, 'tsc --strict on the README blocks').toBe('')
    expect(tsc.status).toBe(0)
    for (const p of found.programs) {
      const run = spawnSync(process.execPath, [path.join(dir, 'out', `readme-${p.line}.js`)], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, DRMSIM_ENGINE: '' },
      })
      expect(run.stderr, `README.md:${p.line} (${p.blocks} block(s)) printed on stderr`).toBe('')
      expect(run.status, `README.md:${p.line} exited ${run.status}`).toBe(0)
    }
  }, 120_000)
})
