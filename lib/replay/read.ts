/**
 * Reading a replay: a whole text, lines from any (async) iterable, or a JSON
 * Lines file or stdin streamed through `splitLines`, which cuts lines from the
 * bytes with a bounded buffer.
 *
 * `splitLines` is our own, not a line-splitting package: split2's `maxLength`
 * bounds only the unfinished tail of its buffer (a long line that arrives
 * whole in one chunk passes), counts UTF-16 characters rather than bytes, and
 * ends the stream with a message that names no line, dropping the lines it
 * had already cut from that chunk; neither it nor readline (which has no limit
 * at all) says whether the last line ended with a newline, which the
 * "truncated last line" message needs.
 */
import { createReadStream, statSync } from 'node:fs'
import path from 'node:path'
import { DrmError } from '../base/errors.js'
import type { ReplayOptions, ReplayResult } from './record.js'
import { Replayer } from './replayer.js'
import type { Line } from './fast-runs.js'
import { show } from './fields.js'
import { ReplayError } from './schema.js'

/**
 * Replays requests: a whole text (split at newlines), or lines from any
 * iterable or async iterable (one request per item).
 */
export async function replay(
  lines: string | Iterable<string> | AsyncIterable<string>,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const r = new Replayer(options)
  r.discardRecords()
  if (typeof lines === 'string') {
    const parts = lines.split('\n')
    const terminated = parts.at(-1) === ''
    if (terminated) parts.pop()
    r.feedLines(
      parts.map((text, i) => ({
        text: text.replace(/\r$/, ''),
        line: i + 1,
        terminated: terminated || i < parts.length - 1,
      })),
    )
    return r.finish()
  }
  if (lines === null || typeof lines !== 'object')
    throw new DrmError('EINVAL', `replay needs a string or an iterable of lines, got ${show(lines)}`)
  let n = 0
  if (Symbol.asyncIterator in lines) for await (const text of lines) r.feed(text, ++n)
  else if (Symbol.iterator in lines) for (const text of lines) r.feed(text, ++n)
  else throw new DrmError('EINVAL', 'replay needs a string or an iterable of lines')
  return r.finish()
}

/** `feedFile`'s default transform: lines as they are (then fed a chunk at a time). */
const same = (text: string) => text

export interface ReplayFileOptions extends ReplayOptions {
  /** Called now and then with the bytes read so far and the file's size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void
}

/**
 * Streams a JSON Lines file (or stdin for '-') into a Replayer. Lines are cut
 * from the byte stream with a bounded buffer: a line over `maxLineBytes`
 * fails as soon as it is seen, without being read whole.
 */
export async function replayFile(file: string, options: ReplayFileOptions = {}): Promise<ReplayResult> {
  const name = options.file ?? (file === '-' ? '<stdin>' : path.basename(file))
  const replayer = new Replayer({ ...options, file: name })
  replayer.discardRecords()
  return feedFile(replayer, file, options.onProgress)
}

/**
 * Streams `file` (stdin for '-') into `replayer` line by line, each line
 * through `transform` first, and finishes it.
 */
export async function feedFile(
  replayer: Replayer,
  file: string,
  onProgress?: (bytesRead: number, totalBytes: number) => void,
  transform: (text: string) => string = same,
): Promise<ReplayResult> {
  let total = 0
  if (file !== '-') {
    try {
      const st = statSync(file)
      if (!st.isFile()) throw new Error('not a regular file')
      total = st.size
    } catch (err) {
      throw new ReplayError(
        'format',
        'EINVAL',
        { file: replayer.file, line: 0 },
        `cannot read ${file}: ${(err as Error).message}`,
      )
    }
  }
  const stream = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 64 * 1024 })
  try {
    // A chunk's lines at a time: one await per chunk, not per line.
    for await (const lines of splitLineBatches(stream, replayer.maxLineBytes, replayer.file, (n) =>
      onProgress?.(n, total),
    )) {
      if (transform === same) replayer.feedLines(lines)
      else for (const { text, line, terminated } of lines) replayer.feed(transform(text), line, terminated)
    }
  } finally {
    if (file !== '-') (stream as ReturnType<typeof createReadStream>).destroy()
  }
  return replayer.finish()
}

/** Cuts a byte stream into lines of at most `max` bytes (without the newline; a final \r is dropped). */
export async function* splitLines(
  stream: AsyncIterable<Uint8Array | string>,
  max: number,
  file = 'replay.jsonl',
  progress?: (bytesRead: number) => void,
): AsyncGenerator<Line> {
  for await (const lines of splitLineBatches(stream, max, file, progress)) yield* lines
}

/**
 * `splitLines`, a chunk's lines at a time. A line too long fails where
 * `splitLines` fails it: after the lines before it in its chunk, which come
 * first as a batch of their own.
 */
async function* splitLineBatches(
  stream: AsyncIterable<Uint8Array | string>,
  max: number,
  file: string,
  progress?: (bytesRead: number) => void,
): AsyncGenerator<Line[]> {
  let parts: Buffer[] = []
  let size = 0
  let line = 1
  let read = 0
  let batch: Line[] = []
  const tooLongError = () => new ReplayError('format', 'EINVAL', { file, line }, `line longer than ${max} bytes`)
  const take = (last: Buffer): string => {
    let buf = parts.length ? Buffer.concat([...parts, last]) : last
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1)
    parts = []
    size = 0
    return buf.toString('utf8')
  }
  for await (const chunk of stream) {
    // Typed as Uint8Array so consumers need no Node types; a view, not a copy.
    const buf =
      typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    read += buf.length
    let from = 0
    let tooLong: ReplayError | null = null
    for (let nl = buf.indexOf(0x0a, from); nl >= 0; nl = buf.indexOf(0x0a, from)) {
      if (size + (nl - from) > max + 1) {
        tooLong = tooLongError()
        break
      }
      // A line within one chunk is decoded in place (no view made for it); a \r before the newline dropped.
      const text =
        size === 0
          ? buf.toString('utf8', from, nl > from && buf[nl - 1] === 0x0d ? nl - 1 : nl)
          : take(buf.subarray(from, nl))
      // Decoding gives at most one UTF-16 unit a byte, each at most 3 bytes again: short lines need no count.
      if (3 * (size + nl - from) > max && Buffer.byteLength(text) > max) {
        tooLong = tooLongError()
        break
      }
      batch.push({ text, line: line++, terminated: true })
      from = nl + 1
    }
    // The lines before a failure are handed over first, as one at a time would have.
    if (batch.length) {
      const lines = batch
      batch = []
      yield lines
    }
    if (tooLong) throw tooLong
    const rest = buf.subarray(from)
    if (size + rest.length > max + 1) throw tooLongError()
    if (rest.length) {
      parts.push(Buffer.from(rest))
      size += rest.length
    }
    progress?.(read)
  }
  if (size > 0) {
    const text = take(Buffer.alloc(0))
    if (Buffer.byteLength(text) > max) throw tooLongError()
    yield [{ text, line, terminated: false }]
  }
}
