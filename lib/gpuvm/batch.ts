/**
 * A batch of bind and unbind requests, applied by `GpuVm.bindBatch` in one
 * engine call (one crossing into the native engine for the whole batch).
 * Requests are checked as they are added and packed into a growable
 * `BigUint64Array` (layout: `BATCH_WORDS` in engine.ts).
 */
import { BATCH_MAP, BATCH_UNMAP, BATCH_WORDS } from '../contract/vm.js'
import { DrmError } from '../base/errors.js'
import { type GemObject, holderMark, markOf, setMark } from '../device/gem.js'
import type { MapRequest } from './gpuvm.js'
import { count, describe, uint32Array, unreadable } from '../base/check.js'
import { u64Fast } from './fast-check.js'

/** Which half of a u64 word holds its low 32 bits, in a Uint32Array over the same bytes. */
const LOW = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1

/** What `GpuVm.bindBatch` reads from a batch. */
interface Contents {
  /** The packed requests, `BATCH_WORDS` words each (a view, not a copy). */
  readonly words: BigUint64Array
  readonly length: number
  /**
   * The objects the requests name, each once: the first `objectCount`
   * entries (the batch's own array, read before the batch changes).
   */
  readonly objects: readonly (GemObject | null)[]
  readonly objectCount: number
}

let contentsOf: (batch: BindBatch) => Contents
let isBatch: (value: object) => value is BindBatch
/**
 * The mark of the filling that last wrote batch marks on objects (any
 * batch's). A filling can take an object in twice only if another batch
 * wrote marks between its two takes, so it looks for twice-taken objects
 * only when it takes one in after such a change of writer.
 */
let markWriter = 0

export class BindBatch {
  #words: BigUint64Array
  /** The same bytes, to write a request's kind and object id without a BigInt. */
  #halves: Uint32Array
  #length = 0
  /**
   * The objects the requests name, kept alive (so their ids stay theirs)
   * while the batch holds them: the first `#held` entries, the rest null;
   * each once, or some twice while `#mixed`. One array for the batch's
   * life, written by index: a new array per filling, grown by `push`, cost
   * a builtin call a request.
   */
  #objects: (GemObject | null)[] = []
  #held = 0
  /**
   * The mark (gem.ts `holderMark`) of this filling, kept on each object in
   * `#objects`; a new one at each `clear`, so that an object is taken in once
   * a filling without a Map lookup.
   */
  #mark = holderMark()
  /**
   * Set when this filling took objects in again after another batch had
   * written marks: one it held before may since be held twice.
   */
  #mixed = false

  static {
    isBatch = (value): value is BindBatch => #words in value
    contentsOf = (batch) => {
      // The common case, one batch filled at a time, has nothing to undo.
      if (batch.#mixed) batch.#distinct()
      return {
        words: batch.#words.subarray(0, batch.#length * BATCH_WORDS),
        length: batch.#length,
        objects: batch.#objects,
        objectCount: batch.#held,
      }
    }
  }

  /** `capacity`: requests to make room for at first (the batch grows as needed). */
  constructor(capacity = 64) {
    const n = Math.max(1, count(capacity, 'capacity', 1 << 24))
    this.#words = new BigUint64Array(n * BATCH_WORDS)
    this.#halves = new Uint32Array(this.#words.buffer)
  }

  /** Requests in the batch. */
  get length(): number {
    return this.#length
  }

  /**
   * Appends a map request (as `GpuVm.bind` takes it); returns its index in
   * the batch. A request that is not valid is refused (EINVAL) and the batch
   * is unchanged.
   */
  map(request: MapRequest): number {
    if (typeof request !== 'object' || request === null) {
      throw new DrmError('EINVAL', `a map request must be an object, got ${describe(request)}`)
    }
    // Read in one try, without a closure or a record: this runs once per request.
    let addr: bigint, range: bigint, obj: unknown, mark: number, offset: bigint
    try {
      addr = u64Fast(request.addr, 'addr')
      range = u64Fast(request.range, 'range')
      obj = request.obj
      // The object's batch mark is its brand check too: -1 for anything but a real GemObject.
      mark = obj == null ? 0 : markOf(obj, 1)
      if (mark === -1) throw new DrmError('EINVAL', `obj must be a GemObject, got ${describe(obj)}`)
      offset = u64Fast(request.offset ?? 0n, 'offset')
    } catch (err) {
      throw unreadable(err, 'the map request')
    }
    if (obj == null) return this.#push(BATCH_MAP, 0, addr, range, offset)
    if (mark !== this.#mark) this.#take(obj as GemObject)
    return this.#push(BATCH_MAP, (obj as GemObject).id, addr, range, offset)
  }

  /** Appends an unmap request (as `GpuVm.unbind` takes it); returns its index in the batch. */
  unmap(addr: bigint, range: bigint): number {
    const a = u64Fast(addr, 'addr')
    const r = u64Fast(range, 'range')
    return this.#push(BATCH_UNMAP, 0, a, r, 0n)
  }

  /** Empties the batch (keeping its room). */
  clear(): void {
    this.#length = 0
    if (this.#held !== 0) {
      this.#objects.fill(null, 0, this.#held)
      this.#held = 0
      this.#mark = holderMark()
    }
    this.#mixed = false
  }

  /** Keeps `obj` with the batch (see `#take`). */
  #hold(obj: GemObject): void {
    if (markOf(obj, 1) !== this.#mark) this.#take(obj)
  }

  /**
   * Keeps `obj`, which does not carry this filling's mark, with the batch. An
   * object carrying the mark is in `#objects` already; one whose mark another
   * batch overwrote since may be taken twice, which `#distinct` undoes.
   */
  #take(obj: GemObject): void {
    if (markWriter !== this.#mark) {
      if (this.#held !== 0) this.#mixed = true
      markWriter = this.#mark
    }
    setMark(obj, 1, this.#mark)
    const held = this.#held
    const objects = this.#objects
    if (held < objects.length) objects[held] = obj
    else objects.push(obj)
    this.#held = held + 1
  }

  /**
   * Leaves the held objects each once, all of them marked again with a new
   * mark for the rest of the filling.
   */
  #distinct(): void {
    const mark = holderMark()
    const distinct: GemObject[] = []
    const objects = this.#objects
    const held = this.#held
    for (let i = 0; i < held; i++) {
      const obj = objects[i]!
      if (markOf(obj, 1) === mark) continue
      setMark(obj, 1, mark)
      distinct.push(obj)
    }
    for (let i = 0; i < held; i++) objects[i] = i < distinct.length ? distinct[i] : null
    this.#held = distinct.length
    this.#mark = mark
    this.#mixed = false
    markWriter = mark
  }

  // Trusted requests from the replay's runs (fast-replay).
  /**
   * @internal A request whose values the caller has read as u64 already,
   * each as two 32-bit halves in `v` (addr, range, offset; high half first),
   * so that no BigInt is made for it: the replay's runs of plain lines
   * (lib/replay/fast-runs.ts). `kind` is `BATCH_MAP` or `BATCH_UNMAP`.
   */
  pushHalves(kind: number, obj: GemObject | null, v: ArrayLike<number>): void {
    const id = obj === null ? 0 : obj.id
    if (id !== 0) this.#hold(obj!)
    const i = this.#length
    let at = i * BATCH_WORDS
    if (at === this.#words.length) this.#grow()
    const halves = this.#halves
    halves[2 * at + LOW] = kind
    halves[2 * at + 1 - LOW] = id
    for (let k = 0; k < 6; k += 2) {
      at++
      halves[2 * at + LOW] = v[k + 1]
      halves[2 * at + 1 - LOW] = v[k]
    }
    this.#length = i + 1
  }

  #push(kind: number, obj: number, addr: bigint, range: bigint, offset: bigint): number {
    const i = this.#length
    let at = i * BATCH_WORDS
    if (at === this.#words.length) this.#grow()
    const words = this.#words
    const halves = this.#halves
    halves[2 * at + LOW] = kind
    halves[2 * at + 1 - LOW] = obj
    words[++at] = addr
    words[++at] = range
    words[++at] = offset
    this.#length = i + 1
    return i
  }

  #grow(): void {
    const next = new BigUint64Array(this.#words.length * 2)
    next.set(this.#words)
    this.#words = next
    this.#halves = new Uint32Array(next.buffer)
  }

  toString(): string {
    return `BindBatch (${this.#length} requests)`
  }
}

/** @internal The packed requests of a batch; EINVAL when `batch` is not a BindBatch. */
export function batchContents(batch: unknown): Contents {
  if (typeof batch !== 'object' || batch === null || !isBatch(batch)) {
    throw new DrmError('EINVAL', `expected a BindBatch, got ${describe(batch)}`)
  }
  return contentsOf(batch)
}

/** `TypedArray.prototype.length`, read from the array itself, not from an own `length` a caller defined. */
const typedLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length')!.get!

/**
 * @internal The `perRequest` array of `bindBatch`, checked: a Uint32Array (a
 * Proxy is none) with room for `3 * length` counts by its true length.
 */
export function perRequestCounts(perRequest: unknown, length: number): Uint32Array | null {
  if (perRequest == null) return null
  const counts = uint32Array(perRequest, 'perRequest')
  const room = typedLength.call(counts) as number
  if (room < 3 * length) {
    throw new DrmError('EINVAL', `perRequest holds ${room} counts; ${length} requests need ${3 * length}`)
  }
  return counts
}
