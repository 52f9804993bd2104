/**
 * The pictures of an end state: a replay's (each live VA space, then the
 * memory domains) and a scenario's (one panel per device it used), drawn
 * with va-space.ts and domains.ts, each object in one colour throughout.
 */
import type { Device } from '../device/device.js'
import { DrmError } from '../base/errors.js'
import type { GemObject } from '../device/gem.js'
import type { GpuVm } from '../gpuvm/gpuvm.js'
import type { ReplayResult } from '../replay/index.js'
import { ObjectColours, type ObjectStyle } from './colors.js'
import { esc, pictureWidth, stackSvgs, svgOpen, textWidth } from './svg.js'
import { renderVaSpace } from './va-space.js'
import { type DomainSource, renderDomains, resident } from './domains.js'

/**
 * The picture of a replay's end state: each live VA space, then the memory
 * domains (when the device has the placement API). Objects go by their
 * replay names; the objects with the most bytes mapped or resident get a
 * colour, the same one in every panel.
 */
export function renderReplay(
  result: Pick<ReplayResult, 'vms' | 'objects' | 'device' | 'nameOf'>,
  options: { width?: number; title?: string; legend?: number; from?: bigint; to?: bigint } = {},
): string {
  const order = new Map<GemObject, number>()
  for (const obj of result.objects.values()) order.set(obj, order.size)
  // One choice of coloured objects for every panel: by bytes mapped, then resident.
  const weight = new Map<GemObject, bigint>()
  for (const vm of result.vms.values())
    for (const va of vm.vas()) if (va.obj) weight.set(va.obj, (weight.get(va.obj) ?? 0n) + va.range)
  for (const obj of result.objects.values()) if (resident(obj)) weight.set(obj, (weight.get(obj) ?? 0n) + obj.size)
  const base: ObjectStyle = {
    label: (obj) => result.nameOf(obj) ?? `#${obj.id}`,
    colorIndex: (obj) => order.get(obj) ?? obj.id - 1,
    legend: options.legend,
  }
  const style: ObjectStyle = { ...base, highlight: new ObjectColours(weight, base).highlighted }
  const parts: string[] = []
  for (const [name, vm] of result.vms) {
    parts.push(
      renderVaSpace(vm, {
        ...style,
        width: options.width,
        from: options.from,
        to: options.to,
        title: `${options.title ? `${options.title}: ` : ''}VA space '${name}'`,
      }),
    )
  }
  if (typeof (result.device as unknown as DomainSource).memory === 'function') {
    parts.push(renderDomains(result.device, { ...style, width: options.width, objects: result.objects.values() }))
  }
  if (parts.length === 0)
    throw new DrmError('EINVAL', 'nothing to draw: no VA space is left and the device has no domains')
  return stackSvgs(parts)
}

/** What renderScenario needs of a scenario's result. */
export interface ScenarioPicture {
  title: string
  /** The device as the story left it. */
  device?: Device | DomainSource
  /** Stories told on several devices, in order: each is drawn; the last is the end. */
  devices?: readonly (Device | DomainSource)[]
  /** VA spaces the story left alive (a drm_gpuvm's with its vm_bos and lists), drawn before the domains. */
  vms?: readonly GpuVm[]
  /** The story's names for its objects (default `#id`). */
  nameOf?: (obj: GemObject) => string | undefined
  /** What each device's part of the story shows, in `devices` order (in the panels' titles). */
  parts?: readonly string[]
}

/**
 * A scenario as its story left it (`drmsim scenario NAME --svg`): the VA
 * spaces still alive, then the memory domains with every resident object,
 * pinned ones included; one panel per device when the story used several,
 * the last one being its end.
 */
export function renderScenario(result: ScenarioPicture, options: { width?: number } = {}): string {
  const devices = result.devices?.length ? result.devices : result.device ? [result.device] : []
  if (devices.length === 0) throw new DrmError('EINVAL', 'renderScenario: the scenario left no device to draw')
  const nameOf = result.nameOf
  const style: ObjectStyle = nameOf ? namedStyle(devices, nameOf) : {}
  const vms = (result.vms ?? []).filter((vm) => !vm.destroyed)
  const width = pictureWidth(options.width)
  // Bold 15px text runs wider than textWidth's estimate for 12px regular.
  const head = wrap(result.title, Math.floor((width - 32) / (textWidth('m', 15) * 1.15)))
  let title = ''
  head.forEach((line, i) => {
    title += `<text x="16" y="${14 + 12 + i * 20}" font-size="15" font-weight="bold" fill="#111111">${esc(line)}</text>\n`
  })
  const header = `${svgOpen(width, 14 + head.length * 20 + 4) + title}</svg>\n`
  return stackSvgs([
    header,
    ...vms.map((vm) =>
      renderVaSpace(vm, { ...style, width: options.width, title: `VA space '${vm.name}' at the end` }),
    ),
    ...devices.map((device, i) =>
      renderDomains(device, {
        ...style,
        width: options.width,
        title:
          devices.length > 1
            ? `Memory domains, part ${i + 1} of ${devices.length}${result.parts?.[i] ? `: ${result.parts[i]}` : ''}${i === devices.length - 1 ? ' (the end)' : ''}`
            : 'Memory domains at the end',
      }),
    ),
  ])
}

/**
 * Labels and colours by name: an object keeps its colour in every panel of
 * a story, even on another device where the same name has another id. Names
 * take colours in the order the devices made their objects.
 */
function namedStyle(devices: readonly (Device | DomainSource)[], nameOf: (obj: GemObject) => string | undefined) {
  const order = new Map<string, number>()
  for (const device of devices) {
    const d = device as unknown as DomainSource
    if (typeof d.core?.objects !== 'function' || typeof d.object !== 'function') continue
    for (const rec of d.core.objects()) {
      const obj = d.object(rec.id)
      const name = obj && nameOf(obj)
      if (name !== undefined && !order.has(name)) order.set(name, order.size)
    }
  }
  return {
    label: (obj: GemObject) => nameOf(obj) ?? `#${obj.id}`,
    colorIndex: (obj: GemObject) => {
      const name = nameOf(obj)
      return name === undefined ? order.size + obj.id : (order.get(name) ?? order.size + obj.id)
    },
  } satisfies ObjectStyle
}

/** `text` cut at spaces into lines of at most `max` characters (a longer word stays whole). */
function wrap(text: string, max: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  if (line) lines.push(line)
  return lines
}
