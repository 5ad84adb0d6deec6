/**
 * What every benchmark section produces. A section measures a path and, in the same run, the
 * baseline it is compared with; the runner prints each figure with its ratio to the baseline and
 * the target where the issue sets one.
 */

/** Whether a bigger or a smaller figure is better. */
export type Better = 'lower' | 'higher'

export interface Figure {
  /** Stable id, e.g. `roundtrip.direct.a2a.p50`; the JSON summary is keyed by it. */
  id: string
  /** What a person reads in the table. */
  label: string
  value: number
  /** `ms`, `tasks/s`, `KiB`, `% of a core`, … */
  unit: string
  better: Better
  /** The id of the figure this one is compared with (measured in the same run). */
  baseline?: string
  /** The ratio to the baseline that the issue asks for: value/baseline must not pass it. */
  target?: { ratio: number, note?: string } | { max: number, note?: string } | { min: number, note?: string }
  /** A remark printed under the table (how it was measured, what it includes). */
  note?: string
}

export interface SectionResult {
  /** e.g. `roundtrip`, `browser`, `relay`, `registry`, `weight`. */
  id: string
  title: string
  figures: Figure[]
  /** What a section could not measure on this machine, and why. */
  skipped?: string[]
  /** Free text shown after the section's table (e.g. where the time goes). */
  notes?: string[]
}

export interface BenchContext {
  /** A few seconds per section: the smoke run inside `npm test`. Same code, tiny counts. */
  quick: boolean
  /** The repository root. */
  root: string
  /** Prints a progress line (stderr) so a long run shows where it is. */
  progress: (line: string) => void
}

export type Section = (context: BenchContext) => Promise<SectionResult>
