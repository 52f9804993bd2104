/**
 * Which GEM objects get a colour of their own, and which colour. A picture of
 * a thousand objects in twenty colours shows nothing, so only the objects
 * with the most bytes (10 by default, at most one per palette colour) are
 * coloured and named in the legend; the others are drawn in greys and counted
 * together as "other".
 */
import type { GemObject } from '../device/gem.js'
import type { LegendEntry } from './svg.js'
import { bytes } from './scale.js'

/**
 * 20 colours that stay apart from each other and from the greys used for
 * other objects, sparse mappings and free space.
 */
export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#393b79',
  '#aec7e8',
  '#ffbb78',
  '#98df8a',
  '#ff9896',
  '#c5b0d5',
  '#c49c94',
  '#f7b6d2',
  '#9edae5',
  '#dbdb8d',
  '#637939',
] as const

/** The greys of the objects without a colour of their own (two, so that neighbours stay apart). */
export const OTHER_GREYS = ['#8c8c8c', '#a8a8a8'] as const

/** How many objects get a colour of their own by default: the first ten colours of PALETTE, the strongest. */
export const DEFAULT_COLOURED = 10

export interface ObjectStyle {
  /** The name shown for an object (default `#<id>`). */
  label?: (obj: GemObject) => string
  /**
   * Index into PALETTE (mod its length) of a coloured object; default a hash
   * of its id, so an object keeps its colour from picture to picture (two
   * coloured objects of one picture never share one).
   */
  colorIndex?: (obj: GemObject) => number
  /**
   * How many objects get a colour of their own and a legend entry, those with
   * the most bytes (default 10, at most PALETTE.length); the others are grey
   * and counted as "other".
   */
  legend?: number
  /** The objects to colour, instead of those with the most bytes (to share one choice between pictures). */
  highlight?: Iterable<GemObject>
}

/** An object's label: `style.label`, else `#<id>`. */
export const labelOf = (obj: GemObject, style: ObjectStyle): string => (style.label ? style.label(obj) : `#${obj.id}`)

/** A well-mixed 32-bit hash of an object id (Knuth's multiplicative constant, then an xorshift). */
function hashId(id: number): number {
  let h = Math.imul(id >>> 0, 0x9e3779b1) >>> 0
  h ^= h >>> 15
  return Math.imul(h, 0x85ebca6b) >>> 0
}

/** The colours of one picture (or of several that share them). */
export class ObjectColours {
  readonly #colour = new Map<GemObject, string>()
  readonly #weights: Map<GemObject, bigint>
  readonly #style: ObjectStyle

  /**
   * `weights`: each object drawn and its bytes in the picture. The coloured
   * objects are `style.highlight` if given, else the `style.legend` (10)
   * heaviest, ties to the lower id.
   */
  constructor(weights: Map<GemObject, bigint>, style: ObjectStyle = {}) {
    this.#weights = weights
    this.#style = style
    const most = Math.max(0, Math.min(PALETTE.length, Math.trunc(style.legend ?? DEFAULT_COLOURED) || 0))
    const chosen = style.highlight
      ? [...new Set(style.highlight)].slice(0, PALETTE.length)
      : [...weights]
          .sort(([a, x], [b, y]) => (x > y ? -1 : x < y ? 1 : a.id - b.id))
          .slice(0, most)
          .map(([obj]) => obj)
    // Lower ids choose first; a taken colour passes to the next free one. Hashed colours come from
    // the first ten (the strongest) while they suffice.
    const taken = new Set<number>()
    const n = style.colorIndex ? PALETTE.length : Math.max(DEFAULT_COLOURED, chosen.length)
    for (const obj of chosen.sort((a, b) => a.id - b.id)) {
      const wanted = style.colorIndex ? Math.trunc(style.colorIndex(obj)) || 0 : hashId(obj.id)
      let i = ((wanted % n) + n) % n
      while (taken.has(i)) i = (i + 1) % n
      taken.add(i)
      this.#colour.set(obj, PALETTE[i])
    }
  }

  /** The fill of `obj`: its palette colour, or a grey. */
  of(obj: GemObject): string {
    return this.#colour.get(obj) ?? OTHER_GREYS[hashId(obj.id) & 1]
  }

  /** Whether `obj` has a colour of its own. */
  coloured(obj: GemObject): boolean {
    return this.#colour.has(obj)
  }

  /** The coloured objects. */
  get highlighted(): GemObject[] {
    return [...this.#colour.keys()]
  }

  /**
   * Legend entries: the coloured objects drawn here, by id (numerically), with
   * their bytes; then "other: N objects" with their bytes together.
   */
  legend(): LegendEntry[] {
    const shown = [...this.#weights].filter(([obj]) => this.#colour.has(obj)).sort(([a], [b]) => a.id - b.id)
    const entries: LegendEntry[] = shown.map(([obj, n]) => ({
      fill: this.#colour.get(obj)!,
      text: `${labelOf(obj, this.#style)} (${bytes(n)})`,
    }))
    let others = 0
    let otherBytes = 0n
    for (const [obj, n] of this.#weights) {
      if (this.#colour.has(obj)) continue
      others++
      otherBytes += n
    }
    if (others > 0)
      entries.push({
        fill: OTHER_GREYS[0],
        text: `other: ${others.toLocaleString('en-US')} object${others === 1 ? '' : 's'} (${bytes(otherBytes)})`,
      })
    return entries
  }
}
