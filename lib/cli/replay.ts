/**
 * The `replay` subcommand, the progress bar and the `--svg` pictures of the
 * drmsim command line (registered by cli.ts).
 */
import { writeFileSync } from 'node:fs'
import { SingleBar } from 'cli-progress'
import { type Command, InvalidArgumentError, Option } from 'commander'
import type { EngineName } from '../contract/vm.js'
import { resolveEngine } from '../engines.js'
import { DrmError } from '../base/errors.js'
import { GemObject } from '../device/gem.js'
import { GpuVm } from '../gpuvm/gpuvm.js'
import { renderReplay, renderVaSpace } from '../render/render.js'
import {
  DEFAULT_MAX_HANDLES,
  DEFAULT_MAX_LINE_BYTES,
  errorJson,
  recordJson,
  recordLines,
  replayFile,
  ReplayError,
  summaryJson,
  summaryText,
  type ReplayRecord,
} from '../replay/index.js'
import { BASE, PAGE_SIZE, requests, vmbindVmOptions, type VmbindParams } from '../workloads/vmbind.js'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** The epilogue of `drmsim --help`. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the simulation failed (the message names the errno; replay: the line)
  2  bad usage, or a malformed replay file (the message names the line and field)

Every command takes --help and --json (one JSON object per line on stdout).
A progress bar is drawn on stderr for long runs, only when stderr is a terminal.`

/** A failure the command line reports on one line (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/**
 * Reports an error every command knows (a DrmError, a CliError, no native
 * binary for an explicit `--engine native`) in one line on stderr and returns
 * its exit code; undefined for anything else.
 */
export function reportError(err: unknown): number | undefined {
  const exitCode =
    err instanceof DrmError
      ? EXIT_FAILED
      : err instanceof CliError
        ? err.exitCode
        : (err as { code?: unknown } | null)?.code === 'DRMSIM_NO_NATIVE'
          ? EXIT_FAILED
          : undefined
  if (exitCode === undefined) return undefined
  // A DrmError's or CliError's message is the command's own; the loader's already names drmsim.
  process.stderr.write(
    err instanceof DrmError || err instanceof CliError ? `drmsim: ${err.message}\n` : `${(err as Error).message}\n`,
  )
  return exitCode
}

/**
 * Writes an SVG picture to `file`. A path that cannot be written is a
 * CliError naming it and the errno, with exit code 2 (a bad --svg argument).
 */
export function writeSvg(file: string, svg: string): void {
  try {
    writeFileSync(file, svg)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    // Node's message is "ENOENT: no such file or directory, open '<file>'".
    const why = e.code ? `${e.code} (${/^\w+: ([^,]*)/.exec(e.message)?.[1] ?? e.message})` : e.message
    throw new CliError(`--svg: cannot write ${file}: ${why}`, EXIT_USAGE)
  }
}

export interface Progress {
  update(value: number): void
  stop(): void
}

/**
 * A progress bar on `stream` (default stderr), or null when it is not a
 * terminal, so pipes, files and tests see clean output.
 */
export function progressBar(
  total: number,
  label: string,
  stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
): Progress | null {
  if (!stream.isTTY || !(total > 0)) return null
  const bar = new SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}`,
    barsize: 30,
    hideCursor: true,
    clearOnComplete: true,
    fps: 10,
  })
  bar.start(total, 0)
  return {
    update: (value) => bar.update(Math.min(value, total)),
    stop: () => bar.stop(),
  }
}

/** The bar of `drmsim vmbind`: the reference engine reports progress, the native one runs in one call. */
export function vmbindProgress(ops: number, engine: EngineName | undefined): Progress | null {
  if (ops < 100_000 || !process.stderr.isTTY || resolveEngine(engine) !== 'reference') return null
  return progressBar(ops, 'vmbind requests')
}

function positive(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`not a positive integer: ${text}`)
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer')
  return n
}

/** Buffered stdout: one write per 64 KiB instead of one per line. */
class Out {
  #buf = ''
  line(text: string): void {
    this.#buf += `${text}\n`
    if (this.#buf.length >= 65536) this.flush()
  }
  flush(): void {
    if (this.#buf) process.stdout.write(this.#buf)
    this.#buf = ''
  }
}

interface ReplayCliOptions {
  summary?: boolean
  json?: boolean
  keepGoing?: boolean
  engine?: EngineName
  svg?: string
  maxLineBytes: number
  maxHandles: number
}

/** `drmsim replay <file>`. Runs asynchronously and sets process.exitCode itself. */
export function addReplayCommand(cli: Command): void {
  cli
    .command('replay')
    .description(
      'Replay a workload of your own from a JSON Lines file (one request per line; see examples/replay.jsonl) and print every op, or a summary',
    )
    .argument('<file>', "the JSON Lines file ('-' for stdin)")
    .option('--summary', 'print the summary only, not the ops of each request')
    .option('--json', 'print JSON Lines: one object per request (u64 values as 0x hex strings), then {"summary": ...}')
    .option(
      '--keep-going',
      'record a request the simulation refuses and go on (exit code 1 at the end); malformed lines still stop',
    )
    .option('--svg <file>', 'write an SVG picture of the VA spaces and memory domains at the end')
    .option('--max-line-bytes <n>', 'longest accepted line, in bytes', positive, DEFAULT_MAX_LINE_BYTES)
    .option('--max-handles <n>', 'most VMs + objects + acquire contexts alive at once', positive, DEFAULT_MAX_HANDLES)
    .addOption(new Option('--engine <name>', 'engine').choices(['native', 'reference']))
    .addHelpText('after', EXIT_CODES_HELP)
    .action((file: string, o: ReplayCliOptions) => {
      return runReplay(file, o).then(
        (code) => {
          process.exitCode = code
        },
        (err) => {
          process.stderr.write(`drmsim: ${(err as Error)?.stack ?? String(err)}\n`)
          process.exitCode = EXIT_FAILED
        },
      )
    })
}

async function runReplay(file: string, o: ReplayCliOptions): Promise<number> {
  const out = new Out()
  const onRecord = o.summary
    ? (r: ReplayRecord) => {
        if (r.error && o.keepGoing) process.stderr.write(`drmsim: ${r.error.message}\n`)
      }
    : o.json
      ? (r: ReplayRecord) => out.line(JSON.stringify(recordJson(r)))
      : (r: ReplayRecord) => {
          for (const l of recordLines(r)) out.line(l)
        }
  let bar: Progress | null | undefined
  try {
    const result = await replayFile(file, {
      engine: o.engine,
      keepGoing: o.keepGoing,
      maxLineBytes: o.maxLineBytes,
      maxHandles: o.maxHandles,
      onRecord,
      onProgress: (n, total) => {
        if (bar === undefined) bar = total >= 1 << 20 ? progressBar(total, 'replay bytes') : null
        bar?.update(n)
      },
    })
    bar?.stop()
    if (o.json) out.line(JSON.stringify({ summary: summaryJson(result.summary) }))
    else out.line(summaryText(result.summary).trimEnd())
    out.flush()
    // After the summary, which a path that cannot be written must not lose.
    if (o.svg) writeSvg(o.svg, renderReplay(result))
    return result.summary.errors > 0 ? EXIT_FAILED : EXIT_OK
  } catch (err) {
    bar?.stop()
    out.flush()
    if (err instanceof ReplayError) {
      if (o.json) process.stdout.write(`${JSON.stringify({ error: errorJson(err) })}\n`)
      process.stderr.write(`drmsim: ${err.message}\n`)
      return err.kind === 'format' ? EXIT_USAGE : EXIT_FAILED
    }
    const exitCode = reportError(err)
    if (exitCode !== undefined) return exitCode
    if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') return EXIT_OK
    throw err
  }
}

/**
 * The canonical vmbind workload replayed through the public API on `engine`,
 * for its picture (the native whole-run engine returns only the summary).
 */
export function vmbindSvg(params: VmbindParams, engine: EngineName | undefined, file: string): void {
  const opts = vmbindVmOptions()
  using vm = new GpuVm({ name: opts.name, start: opts.start, range: opts.range, reserve: opts.reserve, engine })
  const objects = new Map<number, GemObject>()
  const size = (256n + BigInt(params.maxPages)) * PAGE_SIZE
  for (const req of requests(params)) {
    if (req.kind === 'map') {
      let obj = objects.get(req.obj)
      if (!obj) objects.set(req.obj, (obj = new GemObject({ size, id: req.obj })))
      vm.bind({ addr: req.addr, range: req.range, obj, offset: req.offset })
    } else vm.unbind(req.addr, req.range)
  }
  const window = BASE + BigInt(params.window) * PAGE_SIZE
  const svg = renderVaSpace(vm, {
    title: `vmbind seed ${params.seed} ops ${params.ops}: VA space '${vm.name}'`,
    label: (obj) => `0x${obj.id.toString(16)}`,
    from: BASE,
    to: window,
    width: 1200,
  })
  writeSvg(file, svg)
  // Mappings left at the end are expected here: no tree-not-empty warning matters.
  vm.takeWarnings()
}
