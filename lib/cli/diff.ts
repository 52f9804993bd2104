/**
 * `drmsim diff`: where two runs first part ways. Two files (traces, summaries,
 * replay outputs, text or JSON Lines) are compared line by line; one file is
 * compared with a vmbind run (its options, or those a golden file's name
 * encodes); `--engines` runs vmbind, or a replay file, on both engines. The
 * answer names the request (`req N`, its index from 0, as the traces do), the
 * line, and both lines. Exit code 0 when they agree, 1 when they diverge.
 */
import { spawn } from 'node:child_process'
import { createReadStream, statSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { type Command, InvalidArgumentError } from 'commander'
import type { EngineName } from '../contract/vm.js'
import { paramsFromGoldenName, vmbindArgs } from '../workloads/golden.js'
import { vmbind } from '../workloads/vmbind-run.js'
import type { VmbindParams } from '../workloads/vmbind.js'
import {
  asyncAction,
  CliError,
  count,
  EXIT_CODES_HELP,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  Out,
  vmbindProgress,
} from './common.js'
import { addParamOptions, paramsOf, type VmbindCliOptions } from './vmbind.js'

interface DiffCliOptions extends VmbindCliOptions {
  engines?: boolean
  json?: boolean
}

/** One side of a comparison: a name for messages and its lines. */
export interface Side {
  name: string
  lines: AsyncIterable<string> | Iterable<string>
}

export interface Divergence {
  /** 1-based line number where the sides first differ. */
  line: number
  /** The request each side was in (from its last `req N` line), null before any. */
  req: [number | null, number | null]
  /** Whether it is in the closing summary (from a `requests N` or `{"summary":` line on), after the requests. */
  summary: boolean
  /** Each side's line there, null where that side had ended. */
  text: [string | null, string | null]
}

export interface Agreement {
  lines: number
  /** Requests seen (`req N` lines). */
  requests: number
}

const PARAM_OPTIONS = ['seed', 'ops', 'window', 'maxPages', 'objects', 'mapPercent'] as const

export function addDiffCommand(cli: Command): void {
  addParamOptions(
    cli
      .command('diff')
      .description(
        'Find where two runs first diverge: two files, a file and a vmbind run, or the two engines (--engines)',
      )
      .argument('[a]', "a trace, summary or replay output ('-' for stdin)")
      .argument('[b]', 'the file to compare it with; without it, a is compared with a vmbind run'),
  )
    .option(
      '--engines',
      'run vmbind with the options given, or the replay file a, on the native and the reference engine, and compare',
    )
    .option('--json', 'print one JSON object: {"identical": ...} and, on a divergence, where')
    .addHelpText(
      'after',
      `
With two files, their lines are compared one by one. With one, a vmbind run with the options
given is (its trace when the file holds one, else its machine summary); without options, those a
golden file's name encodes (vmbind-seed9-w4096-l16-k4-p60-ops200000.summary). --engines compares
the engines' vmbind summaries, then, if they differ, their traces; --engines FILE replays FILE on
each engine (going past refused requests) and compares what replay prints.

A divergence prints the request ("req N": its index from 0), the line, and both lines:
  first divergence: request 12, line 27
    a.trace: op remap 0x... keep=0 ...
    b.trace: op remap 0x... keep=1 ...
${EXIT_CODES_HELP}`,
    )
    .action(
      asyncAction(async (a: string | undefined, b: string | undefined, o: DiffCliOptions, cmd: Command) => {
        const given = PARAM_OPTIONS.filter((k) => cmd.getOptionValueSource(k) === 'cli')
        const [left, right, agreed] = await sides(a, b, o, given.length > 0)
        const result = await firstDivergence(left, right)
        const out = new Out()
        for (const line of describe(result, left.name, right.name, o.json === true, agreed)) out.line(line)
        out.flush()
        return 'line' in result ? EXIT_FAILED : EXIT_OK
      }),
    )
}

async function sides(
  a: string | undefined,
  b: string | undefined,
  o: DiffCliOptions,
  paramsGiven: boolean,
): Promise<[Side, Side, string?]> {
  if (o.engines) {
    if (o.engine !== undefined) throw new InvalidArgumentError('--engines runs both engines: give no --engine with it')
    if (a === undefined) return engineSides(paramsOf(o))
    if (b !== undefined || paramsGiven)
      throw new InvalidArgumentError('--engines compares the engines on vmbind options or on one replay file')
    if (a === '-') throw new InvalidArgumentError('--engines reads the replay file twice: give a file, not stdin')
    readable(a)
    return replaySides(a)
  }
  if (a === undefined) throw new InvalidArgumentError('diff needs a file (two to compare them), or --engines')
  if (b !== undefined) {
    if (paramsGiven || o.engine !== undefined)
      throw new InvalidArgumentError('vmbind options compare a file with a run: give one file with them')
    if (a === '-' && b === '-') throw new InvalidArgumentError('only one side can be stdin')
    return [fileSide(a), fileSide(b)]
  }
  const file = fileSide(a)
  const params = paramsGiven ? paramsOf(o) : paramsFromGoldenName(path.basename(a))
  if (params === undefined) {
    throw new InvalidArgumentError(
      `give the vmbind options of the run to compare ${a} with (--seed, --ops, ...): its name is not a golden file's`,
    )
  }
  const [first, lines] = await peek(file.lines)
  const trace = first?.startsWith('req ') === true
  const out = run(params, o.engine, trace)
  return [
    { name: file.name, lines },
    { name: `vmbind ${vmbindArgs(params)} (${out.engine})`, lines: textLines(out.text) },
  ]
}

function run(params: VmbindParams, engine: EngineName | undefined, trace: boolean) {
  const bar = vmbindProgress(params.ops, engine, `vmbind ${engine ?? ''}`.trimEnd())
  try {
    const out = vmbind({
      ...params,
      engine,
      trace: trace ? 'full' : 'hash',
      onProgress: bar ? (n) => bar.update(n) : undefined,
    })
    return { engine: out.engine, text: out.trace + out.summary, summary: out.summary }
  } finally {
    bar?.stop()
  }
}

/**
 * The engines' summaries; when they differ, their traces, to find the first
 * step that does. The third item says what agreeing summaries mean.
 */
function engineSides(params: VmbindParams): [Side, Side, string?] {
  const native = run(params, 'native', false)
  const reference = run(params, 'reference', false)
  if (native.summary === reference.summary) {
    const hashes = native.summary
      .split('\n')
      .filter((l) => l.includes('_fnv1a64 '))
      .join(', ')
    return [
      { name: 'native', lines: textLines(native.summary) },
      { name: 'reference', lines: textLines(reference.summary) },
      `native and reference print the same summary for vmbind ${vmbindArgs(params)}: ${hashes}`,
    ]
  }
  return [
    { name: 'native', lines: textLines(run(params, 'native', true).text) },
    { name: 'reference', lines: textLines(run(params, 'reference', true).text) },
  ]
}

/**
 * A replay file on each engine, printed as `drmsim replay --keep-going` prints
 * it, each in a process of its own (GEM object ids count per process, so two
 * replays in one would number their objects apart). Their lines are read as
 * they come; a malformed file is a usage error, as it is for `replay`.
 */
function replaySides(file: string): [Side, Side] {
  const side = (engine: EngineName): Side => {
    const child = spawn(
      process.execPath,
      [path.join(__dirname, 'main.js'), 'replay', file, '--keep-going', '--engine', engine],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text
    })
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity })
    return {
      name: `replay ${file} (${engine})`,
      lines: {
        async *[Symbol.asyncIterator]() {
          try {
            yield* lines
            const code = await exited
            // 1: requests refused (and printed); 2: a malformed file; anything else: the replay broke.
            if (code !== 0 && code !== 1) {
              const message = stderr.trim().replace(/^drmsim: /, '') || `replay on ${engine} exited with ${code}`
              throw new CliError(message, code === 2 ? EXIT_USAGE : EXIT_FAILED)
            }
          } finally {
            if (child.exitCode === null) child.kill()
          }
        },
      },
    }
  }
  return [side('native'), side('reference')]
}

/** A usage error unless `file` is a regular file that can be read ('-' is stdin). */
function readable(file: string): void {
  if (file === '-') return
  try {
    if (!statSync(file).isFile()) throw new Error('not a regular file')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new InvalidArgumentError(`cannot read ${file}: ${e.code ?? e.message}`)
  }
}

function fileSide(file: string): Side {
  readable(file)
  const stream = file === '-' ? process.stdin : createReadStream(file)
  return { name: file === '-' ? '<stdin>' : file, lines: createInterface({ input: stream, crlfDelay: Infinity }) }
}

/** The lines of a text whose lines each end in a newline. */
function* textLines(text: string): Generator<string> {
  for (let at = 0; at < text.length; ) {
    let end = text.indexOf('\n', at)
    if (end < 0) end = text.length
    yield text.slice(at, end)
    at = end + 1
  }
}

async function peek(
  lines: AsyncIterable<string> | Iterable<string>,
): Promise<[string | undefined, AsyncIterable<string>]> {
  const it = (lines as AsyncIterable<string>)[Symbol.asyncIterator]
    ? (lines as AsyncIterable<string>)[Symbol.asyncIterator]()
    : toAsync((lines as Iterable<string>)[Symbol.iterator]())
  const first = await it.next()
  const rest: AsyncIterable<string> = {
    async *[Symbol.asyncIterator]() {
      if (first.done) return
      yield first.value
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value
    },
  }
  return [first.done ? undefined : first.value, rest]
}

function toAsync(it: Iterator<string>): AsyncIterator<string> {
  return { next: async () => it.next() }
}

function iterator(lines: AsyncIterable<string> | Iterable<string>): AsyncIterator<string> {
  return Symbol.asyncIterator in lines
    ? (lines as AsyncIterable<string>)[Symbol.asyncIterator]()
    : toAsync((lines as Iterable<string>)[Symbol.iterator]())
}

const REQ = /^(?:req |\{"req":)(\d+)/
const SUMMARY = /^(?:requests \d+$|\{"summary":)/

/** Compares two sides line by line: where they first differ, or how much they agree on. */
export async function firstDivergence(a: Side, b: Side): Promise<Divergence | Agreement> {
  const ia = iterator(a.lines)
  const ib = iterator(b.lines)
  const req: [number | null, number | null] = [null, null]
  let requests = 0
  let summary = false
  try {
    for (let line = 1; ; line++) {
      const [ra, rb] = await Promise.all([ia.next(), ib.next()])
      const ta = ra.done ? null : ra.value
      const tb = rb.done ? null : rb.value
      if (ta === null && tb === null) return { lines: line - 1, requests }
      const ma = ta === null ? null : REQ.exec(ta)
      const mb = tb === null ? null : REQ.exec(tb)
      if (ma) req[0] = Number(ma[1])
      if (mb) req[1] = Number(mb[1])
      if ((ta !== null && SUMMARY.test(ta)) || (tb !== null && SUMMARY.test(tb))) summary = true
      if (ta !== tb) return { line, req, summary, text: [ta, tb] }
      if (ma) requests++
    }
  } finally {
    // Stops what still reads or runs (files, child processes).
    await Promise.all([ia.return?.(), ib.return?.()])
  }
}

function describe(r: Divergence | Agreement, a: string, b: string, json: boolean, agreed?: string): string[] {
  if (!('line' in r)) {
    if (json) return [JSON.stringify({ identical: true, lines: r.lines, requests: r.requests })]
    if (agreed) return [`identical: ${agreed}`]
    return [`identical: ${count(r.lines)} lines${r.requests ? `, ${count(r.requests)} requests` : ''} (${a} and ${b})`]
  }
  if (json) {
    return [
      JSON.stringify({
        identical: false,
        req: r.req[0] ?? r.req[1],
        ...(r.req[0] !== r.req[1] ? { reqs: r.req } : {}),
        summary: r.summary,
        line: r.line,
        a: { name: a, text: r.text[0] },
        b: { name: b, text: r.text[1] },
      }),
    ]
  }
  const [qa, qb] = r.req
  const request = qa === qb || qb === null || qa === null ? `request ${qa ?? qb}` : `request ${qa} (${qb} in ${b})`
  const where =
    qa === null && qb === null
      ? `${r.summary ? 'the summary, ' : ''}line ${r.line}`
      : r.summary
        ? `the summary (after ${request}), line ${r.line}`
        : `${request}, line ${r.line}`
  const width = Math.max(a.length, b.length) + 1
  const shown = (name: string, text: string | null) =>
    `  ${`${name}:`.padEnd(width)} ${text ?? `(ends after ${count(r.line - 1)} lines)`}`
  return [`first divergence: ${where}`, shown(a, r.text[0]), shown(b, r.text[1])]
}
