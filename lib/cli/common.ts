/**
 * What the drmsim commands share: exit codes, the one-line error report,
 * buffered output, progress bars, and the files they write (SVG pictures;
 * CSV or JSON Lines tables). Their numeric argument parsers: parsers.ts.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { SingleBar } from 'cli-progress'
import { InvalidArgumentError } from 'commander'
import type { EngineName } from '../contract/vm.js'
import { resolveEngine } from '../engines.js'
import { DrmError } from '../base/errors.js'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** The epilogue of `drmsim --help` and of each command's. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the simulation failed (the message names the errno; replay: file:line), a vmbind
     result differs from the kernel's recorded one, or diff found a divergence
  2  bad usage, or a malformed replay file (the message names file:line and the field)

Every command takes --help and --json (JSON on stdout: one object per line). \`req N\`
in traces, replays, diffs and time series is a request's index, counting from 0;
error messages name the input's file:line. A progress bar is drawn on stderr for long
runs, only when stderr is a terminal.`

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

/** Bad usage found by a command's own checks: one line, exit code 2. */
export const usage = (message: string): CliError => new CliError(message, EXIT_USAGE)

/**
 * Reports an error every command knows (a DrmError, a CliError, a commander
 * InvalidArgumentError, no native binary for an explicit `--engine native`)
 * in one line on stderr and returns its exit code; undefined for anything else.
 */
export function reportError(err: unknown): number | undefined {
  const exitCode =
    err instanceof DrmError
      ? EXIT_FAILED
      : err instanceof CliError
        ? err.exitCode
        : err instanceof InvalidArgumentError
          ? EXIT_USAGE
          : (err as { code?: unknown } | null)?.code === 'DRMSIM_NO_NATIVE'
            ? EXIT_FAILED
            : undefined
  if (exitCode === undefined) return undefined
  // The commands' own messages; the loader's already names drmsim.
  const own = err instanceof DrmError || err instanceof CliError || err instanceof InvalidArgumentError
  process.stderr.write(own ? `drmsim: ${(err as Error).message}\n` : `${(err as Error).message}\n`)
  return exitCode
}

/**
 * An asynchronous action for commander: runs `action` and sets
 * process.exitCode from what it returns or throws (a known error in one
 * line; anything else is a bug, reported with its stack).
 */
export function asyncAction<A extends unknown[]>(
  action: (...args: A) => Promise<number>,
): (...args: A) => Promise<void> {
  return (...args: A) =>
    action(...args).then(
      (code) => {
        process.exitCode = code
      },
      (err) => {
        const code = reportError(err)
        if (code === undefined) process.stderr.write(`drmsim: ${(err as Error)?.stack ?? String(err)}\n`)
        process.exitCode = code ?? EXIT_FAILED
      },
    )
}

// --- output --------------------------------------------------------------------

/** Buffered lines to a file descriptor (stdout by default): one write per 64 KiB instead of one per line. */
export class Out {
  #buf = ''
  constructor(readonly fd = 1) {}
  line(text: string): void {
    this.#buf += `${text}\n`
    if (this.#buf.length >= 65536) this.flush()
  }
  text(text: string): void {
    this.#buf += text
    if (this.#buf.length >= 65536) this.flush()
  }
  flush(): void {
    if (!this.#buf) return
    const buf = this.#buf
    this.#buf = ''
    if (this.fd === 1) process.stdout.write(buf)
    else if (this.fd === 2) process.stderr.write(buf)
    else writeSync(this.fd, buf)
  }
}

/** "ENOENT (no such file or directory)" from Node's "ENOENT: no such file or directory, open '<file>'". */
function why(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e.code ? `${e.code} (${/^\w+: ([^,]*)/.exec(e.message)?.[1] ?? e.message})` : e.message
}

/**
 * Writes an SVG picture to `file`. A path that cannot be written is a
 * CliError naming the option (`--svg`, `--plot`), the path and the errno,
 * with exit code 2 (a bad argument).
 */
export function writeSvg(file: string, svg: string, option = '--svg'): void {
  try {
    writeFileSync(file, svg)
  } catch (err) {
    throw usage(`${option}: cannot write ${file}: ${why(err)}`)
  }
}

export type TableFormat = 'csv' | 'jsonl'

/**
 * A table written as rows: CSV (a header, then one line per row) or JSON
 * Lines (one object per row). The format follows the file's name (`.csv`;
 * `.jsonl`, `.ndjson` or `.json`); `-` is stdout, as CSV unless `json`.
 * The file is opened at once, so a path that cannot be written fails before
 * any simulation runs (exit code 2, naming the option, the path and the errno).
 */
export class Table {
  readonly format: TableFormat
  readonly toStdout: boolean
  readonly #out: Out
  #columns: string[] | undefined

  constructor(
    readonly option: string,
    readonly file: string,
    json: boolean,
    /** The CSV header, written even when no row comes (default: the first row's keys). */
    columns?: readonly string[],
  ) {
    this.toStdout = file === '-'
    if (this.toStdout) this.format = json ? 'jsonl' : 'csv'
    else if (/\.csv$/i.test(file)) this.format = 'csv'
    else if (/\.(jsonl|ndjson|json)$/i.test(file)) this.format = 'jsonl'
    else throw usage(`${option}: cannot tell the format of ${file}: name it .csv or .jsonl (or - for stdout)`)
    let fd = 1
    if (!this.toStdout) {
      try {
        fd = openSync(file, 'w')
      } catch (err) {
        throw usage(`${option}: cannot write ${file}: ${why(err)}`)
      }
    }
    this.#out = new Out(fd)
    if (columns && this.format === 'csv') {
      this.#columns = [...columns]
      this.#out.line(this.#columns.map(csvField).join(','))
    }
  }

  /** One row; without declared columns, the first fixes them (its keys, in order). */
  row(values: Record<string, string | number | boolean | null>): void {
    if (this.format === 'jsonl') {
      this.#out.line(JSON.stringify(values))
      return
    }
    if (this.#columns === undefined) {
      this.#columns = Object.keys(values)
      this.#out.line(this.#columns.map(csvField).join(','))
    }
    this.#out.line(this.#columns.map((c) => csvField(values[c] ?? '')).join(','))
  }

  flush(): void {
    this.#out.flush()
  }

  close(): void {
    this.#out.flush()
    if (!this.toStdout) closeSync(this.#out.fd)
  }
}

function csvField(v: string | number | boolean | null): string {
  const text = v === null ? '' : String(v)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

// --- progress ------------------------------------------------------------------

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

/** The bar of a vmbind run: the reference engine reports progress, the native one runs in one call. */
export function vmbindProgress(
  ops: number,
  engine: EngineName | undefined,
  label = 'vmbind requests',
): Progress | null {
  if (ops < 100_000 || !process.stderr.isTTY || resolveEngine(engine) !== 'reference') return null
  return progressBar(ops, label)
}

// --- numbers for people ----------------------------------------------------------

/** 1234567 → "1,234,567". */
export function count(n: number | bigint): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** A count and its noun, plural unless 1: "1 keep", "2 keeps". */
export const counted = (n: number, noun: string, plural = `${noun}s`): string =>
  `${count(n)} ${n === 1 ? noun : plural}`

/** Nanoseconds as ns, µs, ms or s, three significant digits. */
export function duration(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)} ns`
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`
  return `${(ns / 1e9).toPrecision(3)} s`
}
