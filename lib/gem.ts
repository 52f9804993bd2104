import { DrmError } from './errors.js'
import { u64 } from './u64.js'

let nextId = 1
const live = new Map<number, WeakRef<GemObject>>()

export interface GemObjectOptions {
  /** Size in bytes. */
  size: bigint
  /** A fixed id (1..2^32-2); by default the next free one. */
  id?: number
}

/**
 * A GEM buffer object: what a mapping is backed by. Its id is what the
 * engines and the traces name it by.
 */
export class GemObject {
  readonly id: number
  readonly size: bigint

  constructor(options: GemObjectOptions) {
    this.size = u64(options?.size, 'size')
    const id = options.id ?? nextFreeId()
    if (!Number.isInteger(id) || id < 1 || id > 0xffff_fffe) {
      throw new DrmError('EINVAL', `a GEM object id must be an integer in [1, 2^32-2], got ${String(id)}`)
    }
    if (live.get(id)?.deref()) throw new DrmError('EEXIST', `GEM object id ${id} is in use`)
    this.id = id
    live.set(id, new WeakRef(this))
  }

  /** The live object with this id, if any. */
  static byId(id: number): GemObject | undefined {
    return live.get(id)?.deref()
  }

  toString(): string {
    return `GemObject#${this.id}`
  }
}

function nextFreeId(): number {
  while (live.get(nextId)?.deref()) nextId = nextId >= 0xffff_fffe ? 1 : nextId + 1
  return nextId++
}
