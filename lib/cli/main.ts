#!/usr/bin/env node
/**
 * The drmsim executable. A sweep's worker threads start first of all
 * (sweep-early.ts): they boot while the command line and the engines load
 * (program.ts draws them in, ~40 ms), and claim their first tasks as the
 * main thread does. Then the command line runs.
 */
import { startSweepThreads } from './sweep-early.js'

if (process.argv[2] === 'sweep') startSweepThreads(process.argv.slice(3))
;(require('./program.js') as typeof import('./program.js')).run()
