/** The benchmark sections, in the order they run. */
import { browserSection } from './browser.js'
import type { Section } from './lib/types.js'
import { meshSection } from './mesh.js'
import { registrySection } from './registry.js'
import { relayScaleSection } from './relay-scale.js'
import { roundtripSection } from './roundtrip.js'
import { weightSection } from './weight.js'

export const SECTIONS: Record<string, Section> = {
  roundtrip: roundtripSection,
  registry: registrySection,
  mesh: meshSection,
  relay: relayScaleSection,
  browser: browserSection,
  weight: weightSection
}
