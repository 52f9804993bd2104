/**
 * `drmsim merge`: joins the `--out` files of a sweep's shards into the bytes
 * the unsharded sweep writes, after checking they are one sweep and hold
 * every task once; then the same summary, CSV and plot as `drmsim sweep`.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { mergeRows, type ShardFile } from '../sweep/merge.js'
import { EXIT_CODES_HELP, EXIT_OK, usage } from './common.js'
import { addOutputOptions, asUsage, report, RowFiles, type SweepOutputOptions } from './sweep-output.js'

const HELP = `
Each file is the --out of one drmsim sweep --shard i/n run (any order; an empty file is a
shard with no tasks). A row of another sweep (another grid or seeds), a task twice, or a
task missing is an error (exit 2) that names the file:line or the tasks.
`

export function addMergeCommand(cli: Command): void {
  addOutputOptions(
    cli
      .command('merge')
      .description("Join the shards of a drmsim sweep (their --out files) into the unsharded sweep's rows and summary")
      .argument('<files...>', "the shards' JSON Lines files"),
  )
    .addHelpText('after', HELP + EXIT_CODES_HELP)
    .action((names: string[], o: SweepOutputOptions) => {
      process.exitCode = runMerge(names, o)
    })
}

function runMerge(names: readonly string[], o: SweepOutputOptions): number {
  const files: ShardFile[] = names.map((name) => {
    try {
      return { name, text: readFileSync(name, 'utf8') }
    } catch (err) {
      throw usage(`cannot read ${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  })
  const rows = asUsage(() => mergeRows(files))
  const out = new RowFiles(o)
  try {
    for (const row of rows) out.row(row)
  } finally {
    out.close()
  }
  report(rows, o, out.toStdout)
  return EXIT_OK
}
