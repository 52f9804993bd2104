/**
 * The drmsim command line (main.ts is its executable). Exit codes: 0
 * success, 1 the simulation failed (a DrmError, with its errno; a result
 * unlike the kernel's recorded one; a divergence found by diff), 2 bad
 * usage. Each command lives in its own module; common.ts holds what they
 * share.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { EXIT_CODES_HELP, EXIT_FAILED, EXIT_USAGE, reportError } from './common.js'

/**
 * The commands in the order the help lists them, each module loaded only
 * when it is needed: a run of one command loads that command's module alone
 * (the replay module and what it draws in cost a run of `drmsim sweep` a
 * third of its start-up), while the help and an unknown name load them all.
 */
const COMMANDS: Record<string, () => (cli: Command) => void> = {
  vmbind: () => (require('./vmbind.js') as typeof import('./vmbind.js')).addVmbindCommand,
  replay: () => (require('./replay.js') as typeof import('./replay.js')).addReplayCommand,
  diff: () => (require('./diff.js') as typeof import('./diff.js')).addDiffCommand,
  scenario: () => (require('./scenario.js') as typeof import('./scenario.js')).addScenarioCommand,
  // Trace importers (import.ts).
  import: () => (require('./import.js') as typeof import('./import.js')).addImportCommand,
  // sweeps (issue 18)
  sweep: () => (require('./sweep.js') as typeof import('./sweep.js')).addSweepCommand,
  merge: () => (require('./merge.js') as typeof import('./merge.js')).addMergeCommand,
}

/** The program; given the command line, with only the command it names (all of them when it names none). */
export function program(argv?: readonly string[]): Command {
  const cli = new Command('drmsim')
    .description('Simulator of the Linux DRM GPU memory-management stack')
    .version((require('../../package.json') as { version: string }).version)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) })
    .addHelpText('after', EXIT_CODES_HELP)
  const named = argv?.[2]
  const only = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS)
  for (const name of only) COMMANDS[name]()(cli)
  return cli
}

export function main(argv: string[]): number {
  try {
    program(argv).parse(argv)
    // A synchronous command sets process.exitCode itself; an asynchronous one sets it when done.
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    // An action's own usage error (an InvalidArgumentError) is not printed yet: reportError prints it.
    if (err instanceof CommanderError && !(err instanceof InvalidArgumentError)) {
      // Commander has printed its one-line message (or the help, or the version).
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
      return err.exitCode === 0 ? 0 : EXIT_USAGE
    }
    const exitCode = reportError(err)
    if (exitCode !== undefined) return exitCode
    throw err
  }
}

/**
 * A reader that stops early (`drmsim vmbind --trace | head`) closes the pipe:
 * that ends the output, quietly and successfully, as it does for other
 * command-line tools. Any other output error is reported in one line.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    process.stderr.write(`drmsim: cannot write the output: ${err.code ?? err.message}\n`)
    process.exit(EXIT_FAILED)
  })
}

/** Runs the command line of this process. */
export function run(): void {
  quietOnClosedPipe(process.stdout)
  process.exitCode = main(process.argv)
}
