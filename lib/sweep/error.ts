/**
 * Bad input to a sweep: a grid, seeds, a shard, or result files that do not
 * make one sweep. The command line reports it as bad usage (exit code 2).
 */
export class SweepError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SweepError'
  }
}
