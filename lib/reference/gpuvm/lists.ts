/**
 * Mirrors native/core/src/gpuvm/obj_lists.rs (each GEM object's list of linked mappings), kept at every link here.
 *
 * `drm_gpuva_link` / `drm_gpuva_unlink`: a doubly linked list per object
 * through the nodes' `gemPrev` / `gemNext`, in link order. From era 1 on an
 * object's list is also its live vm_bo's (hub.ts), which only counts it.
 */
import type { VaRecord } from '../../contract/vm.js'
import { NO_OBJ, record, type Node } from './tree.js'

/** One object's list of linked mappings, in link order. */
interface ObjList {
  head: Node | null
  tail: Node | null
}

export class ObjLists {
  readonly #lists = new Map<number, ObjList>()

  /** Appends to the object's list; no object, or already linked, is left as it is. */
  link(node: Node): void {
    if (node.obj === NO_OBJ || node.linked) return
    let list = this.#lists.get(node.obj)
    if (list === undefined) {
      list = { head: null, tail: null }
      this.#lists.set(node.obj, list)
    }
    node.gemPrev = list.tail
    node.gemNext = null
    if (list.tail !== null) list.tail.gemNext = node
    else list.head = node
    list.tail = node
    node.linked = true
  }

  unlink(node: Node): void {
    if (!node.linked) return
    const list = this.#lists.get(node.obj)!
    if (node.gemPrev !== null) node.gemPrev.gemNext = node.gemNext
    else list.head = node.gemNext
    if (node.gemNext !== null) node.gemNext.gemPrev = node.gemPrev
    else list.tail = node.gemPrev
    if (list.head === null) this.#lists.delete(node.obj)
    node.linked = false
    node.gemPrev = null
    node.gemNext = null
  }

  /** The mappings linked to `obj`, in link order. */
  vas(obj: number): VaRecord[] {
    return this.nodes(obj).map(record)
  }

  /** The nodes linked to `obj`, in link order. */
  nodes(obj: number): Node[] {
    const out: Node[] = []
    for (let n = this.#lists.get(obj)?.head ?? null; n !== null; n = n.gemNext) out.push(n)
    return out
  }

  clear(): void {
    this.#lists.clear()
  }

  /** A copy of each list's ends (the nodes keep their links, saved by the tree); the closure puts them back. */
  saved(): () => void {
    const ends = [...this.#lists].map(([obj, list]) => [obj, { ...list }] as const)
    return () => {
      this.#lists.clear()
      for (const [obj, list] of ends) this.#lists.set(obj, { ...list })
    }
  }
}
