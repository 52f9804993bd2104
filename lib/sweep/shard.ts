/**
 * Shards: `--shard i/n` (0 <= i < n) runs the tasks whose index is i modulo
 * n. Dealing the tasks round-robin, rather than cutting contiguous blocks,
 * gives every shard its share of each grid point, so shards take about the
 * same time even when the cost grows along the grid (more ops, the
 * reference engine).
 */
import { SweepError } from './error.js'

export interface Shard {
  index: number
  count: number
}

/** The whole sweep as one shard. */
export const WHOLE: Readonly<Shard> = Object.freeze({ index: 0, count: 1 })

/** `i/n` with 0 <= i < n (Slurm array ids from 0, Kubernetes completion indexes). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim())
  if (!m) throw new SweepError(`--shard ${text}: expected i/n, 0 <= i < n (as 0/4 .. 3/4)`)
  const [index, count] = [Number(m[1]), Number(m[2])]
  if (!Number.isSafeInteger(count) || count < 1) throw new SweepError(`--shard ${text}: n must be at least 1`)
  if (index >= count) throw new SweepError(`--shard ${text}: i counts from 0, so it must be below n`)
  return { index, count }
}

/** The task indexes of `shard` among `tasks`, ascending. */
export function shardTasks(tasks: number, shard: Shard): number[] {
  const out: number[] = []
  for (let i = shard.index; i < tasks; i += shard.count) out.push(i)
  return out
}

export const shardText = (shard: Shard): string => `${shard.index}/${shard.count}`
