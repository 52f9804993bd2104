/** `drmsim scenario`: the seeds' placement stories and the drm_gpuvm ones, one by name, or `--all`. */
import { type Command, InvalidArgumentError, Option } from 'commander'
import { renderStats } from '../render/plot.js'
import { renderScenario, stackSvgs } from '../render/render.js'
import { runScenario, scenarios, type ScenarioResult } from '../workloads/scenarios.js'
import { EXIT_CODES_HELP, Out, writeSvg } from './common.js'

const text = (r: ScenarioResult): string =>
  `${r.title} [${r.engine}]\n${r.lines.join('\n')}\noutcome ${JSON.stringify(r.outcome)}`

/** The story's memory over its steps: one stack of panels per device, titled with its part. */
function plotScenario(r: ScenarioResult): string {
  const parts = (r.timelines ?? []).flatMap((rows, i) => {
    const part = r.parts?.[i]
    const title = `drmsim scenario ${r.name}${part ? `: ${part}` : ''}`
    // A device whose part of the story took no step has nothing to plot.
    return rows.length ? [renderStats(rows, { title, xLabel: 'step' })] : []
  })
  return stackSvgs(parts)
}

/** The result as JSON (the device, kept for pictures, is not enumerable). */
const json = (r: ScenarioResult): string => JSON.stringify(r)

export function addScenarioCommand(cli: Command): void {
  cli
    .command('scenario')
    .description(
      "Run one of the stories (the seeds' placement ones, the drm_gpuvm ones) step by step, or all of them (--list for the names)",
    )
    .argument('[name]', 'scenario name')
    .option('--list', 'list the scenarios')
    .option('--all', 'run every scenario, in --list order (text: separated by blank lines; --json: one object each)')
    .option('--json', 'print one JSON object per scenario instead of text')
    .option(
      '--svg <file>',
      "also write an SVG picture of the story's end (one scenario): its live VA spaces, then the memory domains of each device",
    )
    .option(
      '--plot <file>',
      "also write an SVG plot of the story's memory over its steps (one scenario): each domain's use, evictions so far and per step, bytes moved; one stack per device",
    )
    .addOption(
      new Option('--engine <name>', 'engine (default: DRMSIM_ENGINE, else native)').choices(['native', 'reference']),
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .action((name: string | undefined, o) => {
      const out = new Out()
      if (o.list) {
        for (const s of scenarios.values())
          out.line(
            o.json ? JSON.stringify({ name: s.name, title: s.title, source: s.source }) : `${s.name}\t${s.title}`,
          )
        out.flush()
        return
      }
      if (o.all) {
        if (name !== undefined) throw new InvalidArgumentError('--all runs every scenario: give no name with it')
        if (o.svg || o.plot)
          throw new InvalidArgumentError(
            `${o.svg ? '--svg' : '--plot'} draws one scenario: give its name instead of --all`,
          )
        let first = true
        for (const s of scenarios.keys()) {
          const r = runScenario(s, { engine: o.engine })
          if (o.json) out.line(json(r))
          else {
            if (!first) out.line('')
            out.line(text(r))
          }
          first = false
        }
        out.flush()
        return
      }
      if (name === undefined) throw new InvalidArgumentError('a scenario name is needed (see --list), or --all')
      if (!scenarios.has(name)) throw new InvalidArgumentError(`no scenario named ${name} (see --list)`)
      const r = runScenario(name, { engine: o.engine })
      out.line(o.json ? json(r) : text(r))
      out.flush()
      if (o.svg) writeSvg(o.svg, renderScenario(r))
      if (o.plot) writeSvg(o.plot, plotScenario(r), '--plot')
    })
}
