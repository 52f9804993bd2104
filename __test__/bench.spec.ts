// The benchmark harness runs (at toy sizes) so it cannot rot. Nothing here
// asserts a speed: figures live in bench/RESULTS.md.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

it('bench/run.mjs --smoke prints every table', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.resolve(__dirname, '../bench/run.mjs'), '--smoke'],
    {
      cwd: path.resolve(__dirname, '..'),
      maxBuffer: 1 << 24,
    },
  )
  for (const title of ['### vmbind', '### Op lists per request', '### VA tree alone', '### Scaling and memory'])
    expect(stdout).toContain(title)
  // sweeps (issue 18): the pool on one and two workers, whose rows are the same bytes
  expect(stdout).toMatch(/### drmsim sweep, 4 tasks .*\n\n.*\n.*\n\| 1 \| .* \| same bytes \|\n\| 2 \| /)
  // Every row of every table has a number in each cell after the first.
  const rows = stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---'))
  expect(rows.length).toBeGreaterThan(8)
}, 300_000)
