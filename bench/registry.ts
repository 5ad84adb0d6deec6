import type { BenchContext, SectionResult } from './lib/types.js'

export async function registrySection (_context: BenchContext): Promise<SectionResult> {
  throw new Error('not written yet')
}
