/**
 * The GEM objects a VA space holds, to turn the ids of engine records back
 * into handles. Like the kernel's mappings, which hold a reference on their
 * object, it keeps them alive; those no mapping uses any more are dropped
 * now and then, always at the start of a call that brings objects in, so
 * never one that call, an open walk or an op list still needs.
 */
import { describe } from '../base/check.js'
import { DrmError } from '../base/errors.js'
import type { VmCore } from '../contract/vm.js'
import { GemObject, holderMark, markOf, setMark } from '../device/gem.js'

/** Shared by the tables that hold no object yet (most VA spaces of a replay): a Map saved each. */
const NO_OBJECTS: ReadonlyMap<number, GemObject> = new Map()

/** Objects a table holds before it first looks for ones no mapping uses. */
const PRUNE_MIN = 1024

/** Resolves the GEM object id of an engine record (0: none). */
export type ObjectLookup = (id: number) => GemObject | null

export class ObjectTable {
  readonly #core: VmCore
  #objects: ReadonlyMap<number, GemObject> = NO_OBJECTS
  #pruneAt = PRUNE_MIN
  #lookup: ObjectLookup | undefined
  /**
   * This table's mark, kept on each object it holds (gem.ts `holderMark`): an
   * object carries it exactly while it is in `#objects`, so the hot path tells
   * a held object by one private field instead of a Map lookup. An object held
   * by two VA spaces carries the mark of the one that took it last; the other
   * finds it in its Map.
   */
  readonly #mark = holderMark()
  /** Checks (and declares to the engine) an object new to the table; it may refuse it. */
  readonly #admit: ((obj: GemObject) => void) | null

  constructor(core: VmCore, admit: ((obj: GemObject) => void) | null = null) {
    this.#core = core
    this.#admit = admit
  }

  /**
   * Makes room for a call that may bring in `adding` objects. Every call that
   * takes objects does so first, before it adds any: the objects one call
   * adds (a batch's, a remap's two pieces) are never pruned by that call.
   */
  room(adding = 2): void {
    if (this.#objects.size + adding > this.#pruneAt) this.#prune()
  }

  /** The id of a GemObject argument, which the table keeps from then on; EINVAL for anything else. */
  idOf(obj: unknown, what: string): number {
    // markOf is -1 for anything but a real GemObject, and the mark is never -1.
    if (markOf(obj, 0) === this.#mark) return (obj as GemObject).id
    const id = GemObject.idOf(obj)
    if (id === undefined) throw new DrmError('EINVAL', `${what} must be a GemObject, got ${describe(obj)}`)
    if (this.#objects.get(id) !== obj) {
      this.#admit?.(obj as GemObject)
      this.#table().set(id, obj as GemObject)
    }
    setMark(obj as GemObject, 0, this.#mark)
    return id
  }

  /**
   * Takes in the first `count` objects of a batch (each there once), making
   * room once for all of them.
   */
  adopt(objects: readonly (GemObject | null)[], count: number): void {
    const mark = this.#mark
    // Batch after batch over the same objects, all are held already.
    let first = 0
    while (first < count && markOf(objects[first], 0) === mark) first++
    if (first === count) return
    let adding = 0
    for (let i = first; i < count; i++) {
      const obj = objects[i]!
      if (markOf(obj, 0) === mark || this.#objects.get(obj.id) === obj) continue
      adding++
      this.#admit?.(obj)
    }
    this.room(adding)
    const table = this.#table()
    for (let i = first; i < count; i++) {
      const obj = objects[i]!
      if (markOf(obj, 0) === mark) continue
      table.set(obj.id, obj)
      setMark(obj, 0, mark)
    }
  }

  /** The object an engine record names (id 0: none); EINVAL for an id the table does not hold. */
  object(id: number): GemObject | null {
    if (id === 0) return null
    const obj = this.#objects.get(id)
    if (!obj) throw new DrmError('EINVAL', `GEM object ${id} is unknown to VA space '${this.#core.name}'`)
    return obj
  }

  /** `object`, bound, for op lists and walks. */
  get lookup(): ObjectLookup {
    return (this.#lookup ??= (id) => this.object(id))
  }

  /** Forgets the objects no mapping uses (amortised: the threshold doubles past what is kept). */
  #prune(): void {
    const inUse = new Set(this.#core.destroyed ? [] : this.#core.objectIds())
    const table = this.#table()
    for (const [id, obj] of table) {
      if (inUse.has(id)) continue
      table.delete(id)
      if (markOf(obj, 0) === this.#mark) setMark(obj, 0, 0)
    }
    this.#pruneAt = Math.max(PRUNE_MIN, 2 * table.size)
  }

  #table(): Map<number, GemObject> {
    if (this.#objects === NO_OBJECTS) this.#objects = new Map()
    return this.#objects as Map<number, GemObject>
  }
}
