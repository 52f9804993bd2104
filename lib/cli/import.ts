/**
 * `drmsim import anv|nvk <file>`: a driver's debug trace of VM binds (Mesa
 * ANV's `INTEL_DEBUG=sparse`, NVK's `NVK_DEBUG=vm`) as a replay file, written
 * to stdout or `-o`. The trace's own lines are read strictly (a malformed one
 * stops the import, naming its line: exit code 2); every other line is
 * ignored and counted, so a whole stderr capture can be given as it is.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Argument, type Command } from 'commander'
import { ANV_VA_RANGE, parseAnv } from '../import/anv.js'
import { NVK_VA_RANGE, parseNvk } from '../import/nvk.js'
import { type ParsedTrace, TraceError, traceToReplay } from '../import/trace.js'
import { EXIT_CODES_HELP, EXIT_OK, usage } from './common.js'

const FORMATS = {
  anv: { parse: parseAnv, range: ANV_VA_RANGE, what: "Mesa ANV's INTEL_DEBUG=sparse ([ bind ]/[unbind] lines)" },
  nvk: { parse: parseNvk, range: NVK_VA_RANGE, what: "Mesa NVK's NVK_DEBUG=vm (alloc/bind/unbind/free lines)" },
} as const

type Format = keyof typeof FORMATS

export function addImportCommand(cli: Command): void {
  cli
    .command('import')
    .description(
      "Turn a driver's debug trace of VM binds into a replay file: Mesa ANV's INTEL_DEBUG=sparse output (anv) or NVK's NVK_DEBUG=vm output (nvk)",
    )
    .addArgument(new Argument('<format>', 'the trace format').choices(Object.keys(FORMATS)))
    .argument('<file>', "the trace ('-' for stdin): the driver's stderr, other lines included")
    .option('-o, --output <file>', 'write the replay file here (default: stdout)')
    .addHelpText(
      'after',
      `
The replay makes one VA space (anv: 48 bits, nvk: 47 bits) and one object per buffer the
trace names (bo<handle> for anv, mem<handle> for nvk), sized to the largest extent the
trace binds of it, then replays the binds and unbinds in order: anv's bind of no BO is a
sparse bind; nvk's free va is an unbind of its range, its alloc va maps nothing. A count
of the lines read and ignored goes to stderr.${EXIT_CODES_HELP}`,
    )
    .action((format: Format, file: string, o: { output?: string }) => {
      process.exitCode = runImport(format, file, o.output)
    })
}

function runImport(format: Format, file: string, output: string | undefined): number {
  const name = file === '-' ? '<stdin>' : path.basename(file)
  let text: string
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (err) {
    throw usage(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let trace: ParsedTrace
  try {
    trace = FORMATS[format].parse(text, name)
  } catch (err) {
    if (err instanceof TraceError) throw usage(err.message)
    throw err
  }
  const replay = traceToReplay(trace, { source: `${format} ${name}`, vm: format, range: FORMATS[format].range })
  if (output === undefined) process.stdout.write(replay)
  else {
    try {
      writeFileSync(output, replay)
    } catch (err) {
      throw usage(`-o: cannot write ${output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  const dropped = trace.dropped ? `, ${trace.dropped} that map nothing` : ''
  process.stderr.write(
    `drmsim import ${format}: ${trace.events.length} binds and unbinds from ${trace.lines} lines (${trace.ignored} other lines ignored${dropped})\n`,
  )
  return EXIT_OK
}
