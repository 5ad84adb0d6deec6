/**
 * Turns section results into the printed table and the JSON summary: each figure with its
 * baseline, the ratio between them, and whether the target was met.
 */
import { cpus, totalmem, release, platform } from 'node:os'
import { round } from './stats.js'
import type { Figure, SectionResult } from './types.js'

export interface CheckedFigure extends Figure {
  /** value / baseline value, when there is a baseline. */
  ratio?: number
  /** Whether the target is met; absent when the figure has no target. */
  met?: boolean
}

export interface Summary {
  machine: { cpus: number, cpuModel: string, memoryGiB: number, node: string, os: string }
  startedAt: string
  durationSeconds: number
  quick: boolean
  sections: Array<Omit<SectionResult, 'figures'> & { figures: CheckedFigure[] }>
}

export function machine (): Summary['machine'] {
  const list = cpus()
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${platform()} ${release()}`
  }
}

export function check (section: SectionResult): CheckedFigure[] {
  const byId = new Map(section.figures.map(f => [f.id, f]))
  return section.figures.map((figure) => {
    const out: CheckedFigure = { ...figure }
    const base = figure.baseline != null ? byId.get(figure.baseline) : undefined
    if (base != null && base.value !== 0) out.ratio = figure.value / base.value
    const target = figure.target
    if (target != null) {
      if ('ratio' in target) {
        if (out.ratio != null) out.met = figure.better === 'lower' ? out.ratio <= target.ratio : out.ratio >= target.ratio
      } else if ('max' in target) {
        out.met = figure.value <= target.max
      } else {
        out.met = figure.value >= target.min
      }
    }
    return out
  })
}

function describeTarget (figure: Figure): string {
  const t = figure.target
  if (t == null) return ''
  if ('ratio' in t) return `${figure.better === 'lower' ? '≤' : '≥'} ${t.ratio}×`
  if ('max' in t) return `≤ ${t.max} ${figure.unit}`
  return `≥ ${t.min} ${figure.unit}`
}

/** A plain-text table of one section, ready to print. */
export function table (section: SectionResult, figures: CheckedFigure[]): string {
  const byId = new Map(figures.map(f => [f.id, f]))
  const rows = figures.map(f => [
    f.label,
    `${round(f.value)} ${f.unit}`,
    f.baseline != null ? byId.get(f.baseline)?.label ?? f.baseline : '',
    f.ratio != null ? `${round(f.ratio)}×` : '',
    describeTarget(f),
    f.met == null ? '' : f.met ? 'met' : 'MISSED'
  ])
  const header = ['figure', 'value', 'baseline', 'ratio', 'target', '']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  const out = [`## ${section.title}`, '', line(header), line(widths.map(w => '-'.repeat(w))), ...rows.map(line)]
  for (const f of figures) if (f.note != null) out.push(`  · ${f.label}: ${f.note}`)
  for (const note of section.notes ?? []) out.push(`  ${note}`)
  for (const skipped of section.skipped ?? []) out.push(`  skipped: ${skipped}`)
  return out.join('\n')
}

/** The same table in Markdown, for BENCHMARKS.md. */
export function markdown (section: SectionResult, figures: CheckedFigure[]): string {
  const byId = new Map(figures.map(f => [f.id, f]))
  const out = [`### ${section.title}`, '', '| figure | value | baseline | ratio | target | |', '|---|---|---|---|---|---|']
  for (const f of figures) {
    out.push(`| ${f.label} | ${round(f.value)} ${f.unit} | ${f.baseline != null ? byId.get(f.baseline)?.label ?? '' : ''} | ${f.ratio != null ? `${round(f.ratio)}×` : ''} | ${describeTarget(f)} | ${f.met == null ? '' : f.met ? 'met' : '**missed**'} |`)
  }
  const notes = [...figures.filter(f => f.note != null).map(f => `${f.label}: ${f.note}`), ...(section.notes ?? []), ...(section.skipped ?? []).map(s => `skipped: ${s}`)]
  if (notes.length > 0) out.push('', ...notes.map(n => `- ${n}`))
  return out.join('\n')
}
