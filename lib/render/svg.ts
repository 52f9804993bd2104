/**
 * SVG building blocks shared by the pictures: escaping, the document head with
 * its fill patterns, a wrapping legend, and stacking documents vertically.
 */
import { DrmError } from '../base/errors.js'

/** Text escaped for SVG content and attribute values. */
export const esc = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/** Pixel coordinates with two decimals at most, as SVG text. */
export const px = (n: number): string => String(Math.round(n * 100) / 100)

const DEFS = `<defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#bbbbbb"/><line x1="0" y1="0" x2="0" y2="6" stroke="#777777" stroke-width="3"/></pattern>
<pattern id="pinned" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#000000" stroke-opacity="0.45" stroke-width="2"/></pattern>
<pattern id="sparse" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#eeeeee"/><circle cx="4" cy="4" r="1.5" fill="#999999"/></pattern>
<pattern id="evicted" width="12" height="12" patternUnits="userSpaceOnUse"><path d="M0,0 L12,12 M12,0 L0,12" stroke="#b00020" stroke-width="1.6"/></pattern>
</defs>`

/** The opening of a picture: the root element, a white background and the fill patterns. */
export function svgOpen(width: number, height: number): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="DejaVu Sans, Verdana, Arial, sans-serif" font-size="12">\n` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>\n${DEFS}\n`
  )
}

/** A picture's width in pixels from an option: 960 by default, kept within [320, 8192]. */
export const pictureWidth = (width: number | undefined): number =>
  Math.max(320, Math.min(8192, Math.trunc(Number.isFinite(width) ? width! : 960)))

export interface LegendEntry {
  fill: string
  text: string
  /** A line sample (for plots) instead of a filled square. */
  line?: { dash?: string }
  /** The square's outline, drawn as on the picture (default a thin grey edge). */
  outline?: { width: number; dash?: string }
  /** A pattern drawn over the square's fill (`url(#...)`). */
  over?: string
}

/** Approximate width of `text` at 12px in the pictures' font. */
export const textWidth = (text: string, size = 12): number => text.length * size * 0.6

/** Legend entries in rows that wrap at `width`; returns the SVG and the height used. */
export function legend(entries: readonly LegendEntry[], x: number, y: number, width: number) {
  let svg = ''
  let cx = x
  let cy = y
  for (const e of entries) {
    const w = 22 + textWidth(e.text) + 16
    if (cx + w > x + width && cx > x) {
      cx = x
      cy += 20
    }
    if (e.line) {
      const dash = e.line.dash ? ` stroke-dasharray="${e.line.dash}"` : ''
      svg += `<line x1="${cx}" y1="${cy + 7}" x2="${cx + 16}" y2="${cy + 7}" stroke="${e.fill}" stroke-width="2.5"${dash}/>`
    } else if (e.outline) {
      const dash = e.outline.dash ? ` stroke-dasharray="${e.outline.dash}"` : ''
      svg += `<rect x="${cx}" y="${cy}" width="14" height="14" fill="${e.fill}"/>`
      if (e.over) svg += `<rect x="${cx}" y="${cy}" width="14" height="14" fill="${e.over}"/>`
      svg += `<rect x="${cx + e.outline.width / 2}" y="${cy + e.outline.width / 2}" width="${14 - e.outline.width}" height="${14 - e.outline.width}" fill="none" stroke="#111111" stroke-width="${e.outline.width}"${dash}/>`
    } else {
      svg += `<rect x="${cx}" y="${cy}" width="14" height="14" fill="${e.fill}" stroke="#333333" stroke-width="0.5"/>`
      if (e.over) svg += `<rect x="${cx}" y="${cy}" width="14" height="14" fill="${e.over}"/>`
    }
    svg += `<text x="${cx + 20}" y="${cy + 11}" fill="#222222">${esc(e.text)}</text>\n`
    cx += w
  }
  return { svg, height: entries.length ? cy - y + 20 : 0 }
}

/** A bold heading at (x, y) (its top), 16px. */
export const heading = (x: number, y: number, text: string): string =>
  `<text x="${x}" y="${y + 12}" font-size="16" font-weight="bold" fill="#111111">${esc(text)}</text>\n`

/** Stacks SVG documents vertically into one (each keeps its own coordinates). */
export function stackSvgs(parts: readonly string[]): string {
  let width = 0
  let y = 0
  let body = ''
  for (const part of parts) {
    const m = /^<svg[^>]*\bwidth="(\d+(?:\.\d+)?)"[^>]*\bheight="(\d+(?:\.\d+)?)"/.exec(part)
    if (!m) throw new DrmError('EINVAL', 'stackSvgs: each part must be an <svg> with width and height')
    const [w, h] = [Number(m[1]), Number(m[2])]
    body += part.replace(/^<svg /, `<svg x="0" y="${y}" `)
    width = Math.max(width, w)
    y += h
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">\n` +
    body +
    '</svg>\n'
  )
}
