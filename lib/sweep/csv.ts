/**
 * A sweep's rows as CSV (RFC 4180): a header of the column names, then one
 * line per row in task order, the same columns as the JSON Lines rows.
 */
import { COLUMNS, type Row } from './rows.js'

/** A field, quoted when it holds a comma, a quote or a line break. */
export function csvField(v: string | number): string {
  const text = String(v)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/** The header line (without its newline). */
export const csvHeader = (): string => COLUMNS.join(',')

/** A row as a CSV line (without its newline). */
export const csvLine = (row: Row): string => COLUMNS.map((c) => csvField(row[c])).join(',')
