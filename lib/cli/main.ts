#!/usr/bin/env node
/**
 * The drmsim command line. Exit codes: 0 success, 1 the simulation failed
 * (a DrmError, with its errno), 2 bad usage.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { addReplayCommand, EXIT_CODES_HELP, reportError, vmbindProgress, vmbindSvg, writeSvg } from './replay.js'
import { renderDomains } from '../render/render.js'
import { runScenario, scenarios } from '../workloads/scenarios.js'
import { vmbind } from '../workloads/vmbind-run.js'
import { defaultParams } from '../workloads/vmbind.js'

const EXIT_FAILED = 1
const EXIT_USAGE = 2

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`not a non-negative integer: ${text}`)
    const n = Number(text)
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be in [${min}, ${max}]`)
    return n
  }
}

function u64(text: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text)) throw new InvalidArgumentError(`not a u64: ${text}`)
  const n = BigInt(text)
  if (n >= 1n << 64n) throw new InvalidArgumentError('must be below 2^64')
  return n
}

export function program(): Command {
  const cli = new Command('drmsim')
    .description('Simulator of the Linux DRM GPU memory-management stack')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) })
    .addHelpText('after', EXIT_CODES_HELP)

  cli
    .command('vmbind')
    .description(
      'Replay the canonical bind/unbind workload (lib/workloads/vmbind.md in the drmsim repository) and print its summary',
    )
    .addOption(
      new Option('--seed <n>', 'PRNG seed (u64, decimal or 0x hex)').argParser(u64).default(defaultParams.seed, '1'),
    )
    .option('--ops <n>', 'number of requests', integer(0), defaultParams.ops)
    .option('--window <n>', 'pages of VA the requests fall in', integer(1), defaultParams.window)
    .option('--max-pages <n>', 'longest request, in pages', integer(1), defaultParams.maxPages)
    .option('--objects <n>', 'distinct GEM objects', integer(1, 0xffff_fffe), defaultParams.objects)
    .option('--map-percent <n>', 'share of requests that are maps', integer(0, 100), defaultParams.mapPercent)
    .option('--trace', 'print every request and step before the summary')
    .option('--bench', 'time the request loop alone (no trace hashing) and print bench_ns_per_request')
    .option('--json', 'print one JSON object instead of text')
    .option(
      '--svg <file>',
      'also write an SVG picture of the final VA space (replayed through the API on the same engine)',
    )
    .addOption(new Option('--engine <name>', 'engine').choices(['native', 'reference']))
    .addHelpText('after', EXIT_CODES_HELP)
    .action((o) => {
      if (o.trace && o.bench) throw new InvalidArgumentError('--trace and --bench exclude each other')
      const bar = o.bench ? null : vmbindProgress(o.ops, o.engine)
      const out = vmbind({
        onProgress: bar ? (n) => bar.update(n) : undefined,
        seed: o.seed,
        ops: o.ops,
        window: o.window,
        maxPages: o.maxPages,
        objects: o.objects,
        mapPercent: o.mapPercent,
        engine: o.engine,
        trace: o.trace ? 'full' : o.bench ? 'off' : 'hash',
      })
      bar?.stop()
      const nsPerRequest = out.params.ops ? out.loopNs / out.params.ops : 0
      if (o.json) {
        const json = {
          engine: out.engine,
          ...summaryJson(out.summary),
          ...(o.bench ? { benchNsPerRequest: round(nsPerRequest) } : {}),
        }
        process.stdout.write(`${JSON.stringify(json)}\n`)
      } else {
        process.stdout.write(out.trace)
        process.stdout.write(out.summary)
        if (o.bench) process.stdout.write(`bench_ns_per_request ${round(nsPerRequest)}\n`)
      }
      // After the summary, which a path that cannot be written must not lose.
      if (o.svg) vmbindSvg(out.params, o.engine, o.svg)
    })
  addReplayCommand(cli)
  cli
    .command('scenario')
    .description("Run one of the seeds' placement stories step by step (--list for the names)")
    .argument('[name]', 'scenario name')
    .option('--list', 'list the scenarios')
    .option('--json', 'print one JSON object instead of text')
    .option('--svg <file>', 'also write an SVG picture of the memory domains as the story left them')
    .addOption(new Option('--engine <name>', 'engine').choices(['native', 'reference']))
    .action((name: string | undefined, o) => {
      if (o.list) {
        for (const s of scenarios.values())
          process.stdout.write(
            o.json
              ? `${JSON.stringify({ name: s.name, title: s.title, source: s.source })}\n`
              : `${s.name}\t${s.title}\n`,
          )
        return
      }
      if (name === undefined) throw new InvalidArgumentError('a scenario name is needed (see --list)')
      if (!scenarios.has(name)) throw new InvalidArgumentError(`no scenario named ${name} (see --list)`)
      const r = runScenario(name, { engine: o.engine })
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`)
      else
        process.stdout.write(`${r.title} [${r.engine}]\n${r.lines.join('\n')}\noutcome ${JSON.stringify(r.outcome)}\n`)
      if (o.svg && r.device) writeSvg(o.svg, renderDomains(r.device))
    })
  return cli
}

const round = (n: number): number => Math.round(n * 10) / 10

/** The summary lines as JSON: counts as numbers, hashes as hex strings. */
function summaryJson(summary: string): Record<string, unknown> {
  const json: Record<string, unknown> = {}
  for (const line of summary.trim().split('\n')) {
    const [key, ...rest] = line.split(' ')
    if (key === 'ops') json.ops = Object.fromEntries(rest.map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]))
    else if (key.endsWith('_fnv1a64')) json[key.replace('_fnv1a64', 'Fnv1a64')] = rest[0]
    else json[key] = Number(rest[0])
  }
  return json
}

export function main(argv: string[]): number {
  try {
    program().parse(argv)
    return 0
  } catch (err) {
    // Thrown by an action (commander reports the ones its parsers throw).
    if (err instanceof InvalidArgumentError) {
      process.stderr.write(`drmsim: ${err.message}\n`)
      return EXIT_USAGE
    }
    const e = err as { code?: string; exitCode?: number }
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0
    if (e.code?.startsWith('commander.')) return e.exitCode === 0 ? 0 : EXIT_USAGE
    const exitCode = reportError(err)
    if (exitCode !== undefined) return exitCode
    throw err
  }
}

/**
 * A reader that stops early (`drmsim vmbind --trace | head`) closes the pipe:
 * that ends the output, quietly and successfully, as it does for other
 * command-line tools. Any other output error is reported in one line.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    process.stderr.write(`drmsim: cannot write the output: ${err.code ?? err.message}\n`)
    process.exit(EXIT_FAILED)
  })
}

if (require.main === module) {
  quietOnClosedPipe(process.stdout)
  process.exitCode = main(process.argv)
}
