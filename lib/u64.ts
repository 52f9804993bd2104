/** The u64 and count checks, now in check.ts with the other argument checks; kept for existing imports. */
export { U64_MAX, count, describe, hex, u64 } from './check.js'
