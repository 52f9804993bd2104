/**
 * The vmbind trace (lib/workloads/vmbind.md) as JSON Lines, for
 * `drmsim vmbind --trace --json`: one object per request, its steps in the
 * shape `drmsim replay --json` gives them. Addresses, ranges and offsets are
 * 0x hex strings as in the trace; object ids and request indices are numbers.
 */

type Piece = { addr: string; range: string; obj: number; offset: string }

const id = (text: string): number => Number.parseInt(text, 16)

function piece(text: string): Piece | null {
  if (text === '-') return null
  const [addr, range, obj, offset] = text.split(',')
  return { addr, range, obj: id(obj), offset }
}

function step(w: string[]): Record<string, unknown> {
  switch (w[1]) {
    case 'map':
      return { kind: 'map', addr: w[2], range: w[3], obj: id(w[4]), offset: w[5] }
    case 'remap':
      return {
        kind: 'remap',
        addr: w[2],
        range: w[3],
        keep: w[4] === 'keep=1',
        prev: piece(w[5].slice('prev='.length)),
        next: piece(w[6].slice('next='.length)),
      }
    case 'unmap':
      return { kind: 'unmap', addr: w[2], range: w[3], obj: id(w[4]), offset: w[5], keep: w[6] === 'keep=1' }
    default:
      return { kind: w[1], addr: w[2], range: w[3] }
  }
}

function request(w: string[]): Record<string, unknown> {
  const req: Record<string, unknown> = { req: Number(w[1]), op: w[2], addr: w[3], range: w[4] }
  if (w[2] === 'map') {
    req.obj = id(w[5])
    req.offset = w[6]
  }
  req.steps = []
  return req
}

/** The JSON lines of a trace's requests (each ending in a newline in `trace`; the summary is not in it). */
export function* traceJsonLines(trace: string): Generator<string> {
  let current: Record<string, unknown> | undefined
  for (let at = 0; at < trace.length; ) {
    let end = trace.indexOf('\n', at)
    if (end < 0) end = trace.length
    const w = trace.slice(at, end).split(' ')
    at = end + 1
    if (w[0] === 'req') {
      if (current) yield JSON.stringify(current)
      current = request(w)
    } else if (w[0] === 'op' && current) {
      ;(current.steps as unknown[]).push(step(w))
    }
  }
  if (current) yield JSON.stringify(current)
}
