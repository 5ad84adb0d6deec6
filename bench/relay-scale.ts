import type { BenchContext, SectionResult } from './lib/types.js'

export async function relayScaleSection (_context: BenchContext): Promise<SectionResult> {
  throw new Error('not written yet')
}
