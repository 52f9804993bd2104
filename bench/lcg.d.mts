// Types of bench/lcg.mjs for the specs that check it.
export function lcg(seed: number): (n: number) => number
export function lcgBig(seed: number): (n: number) => number
