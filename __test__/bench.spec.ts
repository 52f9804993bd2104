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

it('bench/lcg.mjs draws the same values as the BigInt LCG it replaces (10^6 draws, several seeds)', async () => {
  const { lcg, lcgBig } = await import('../bench/lcg.mjs')
  const bounds = [96, 8, 3841, 2 ** 31, 1, 7, 1e9]
  for (const seed of [0x2545f491, 0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
    const [fast, big] = [lcg(seed), lcgBig(seed)]
    const draws = seed === 0x2545f491 ? 1_000_000 : 100_000
    let same = 0
    for (let i = 0; i < draws; i++) {
      const n = bounds[i % bounds.length]
      if (fast(n) === big(n)) same++
    }
    expect(same).toBe(draws)
  }
  // The first draws of the bench's seed by hand: x1 = (0x2545f491 * a + c) mod 2^64, x1 >> 33.
  const x1 = (0x2545f491n * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n)
  expect(lcg(0x2545f491)(2 ** 31)).toBe(Number(x1 >> 33n))
})
