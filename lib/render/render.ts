/**
 * Pictures: SVG of a GPU VA space (mappings as bars along the address axis,
 * coloured by GEM object; in a drm_gpuvm, each object outlined as external
 * or private, evicted vm_bos hatched, and a panel of the extobj, evict and
 * defer lists) and of a device's memory domains (every resident object at
 * its offset, pinned ones hatched, with used / free / pinned / evictable /
 * fragmentation); a replay's or a scenario's end state. Pure functions
 * returning SVG text. Time series are drawn by plot.ts.
 */
export { DEFAULT_COLOURED, OTHER_GREYS, PALETTE, type ObjectStyle } from './colors.js'
export { bytes } from './scale.js'
export { stackSvgs } from './svg.js'
export { renderVaSpace, type VaRenderOptions } from './va-space.js'
export { renderDomains, type DomainRenderOptions, type DomainSource } from './domains.js'
export { renderReplay, renderScenario, type ScenarioPicture } from './story.js'
