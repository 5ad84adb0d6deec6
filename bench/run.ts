/**
 * `npm run bench`: every path beside its baseline, measured in one run on this machine, printed
 * as tables and written as JSON to bench/results/latest.json (and latest.md, the tables in
 * Markdown for BENCHMARKS.md).
 *
 *   npm run bench [-- --quick] [-- --only roundtrip,registry]
 *
 * --quick runs every section with tiny counts in a few seconds: the smoke run `npm test` does,
 * so the benchmark cannot silently rot. Its figures mean nothing.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { check, machine, markdown, table } from './lib/report.js'
import type { Summary } from './lib/report.js'
import type { BenchContext, Section } from './lib/types.js'
import { SECTIONS } from './sections.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean' } }
  })
  if (values.help === true) {
    console.log(`Usage: npm run bench [-- --quick] [-- --only ${Object.keys(SECTIONS).join(',')}]`)
    return
  }
  const only = values.only?.split(',').map(s => s.trim()).filter(s => s.length > 0)
  for (const name of only ?? []) {
    if (!(name in SECTIONS)) throw new Error(`unknown section ${name}; there are ${Object.keys(SECTIONS).join(', ')}`)
  }
  const context: BenchContext = {
    quick: values.quick === true,
    root: ROOT,
    progress: (line) => { process.stderr.write(`[bench] ${line}\n`) }
  }
  const started = Date.now()
  const summary: Summary = { machine: machine(), startedAt: new Date(started).toISOString(), durationSeconds: 0, quick: context.quick, sections: [] }
  const markdownParts: string[] = []
  console.log(`Starling benchmarks${context.quick ? ' (quick smoke run: the figures mean nothing)' : ''}`)
  console.log(`machine: ${summary.machine.cpus} × ${summary.machine.cpuModel}, ${summary.machine.memoryGiB} GiB, Node ${summary.machine.node}, ${summary.machine.os}\n`)

  let failed = false
  for (const [name, section] of Object.entries(SECTIONS) as Array<[string, Section]>) {
    if (only != null && !only.includes(name)) continue
    context.progress(`${name}…`)
    const sectionStart = Date.now()
    try {
      const result = await section(context)
      const figures = check(result)
      summary.sections.push({ ...result, figures })
      console.log(table(result, figures) + '\n')
      markdownParts.push(markdown(result, figures))
    } catch (err) {
      failed = true
      console.error(`section ${name} failed:`, err)
      summary.sections.push({ id: name, title: name, figures: [], skipped: [`failed: ${(err as Error).message}`] })
    }
    context.progress(`${name} done in ${Math.round((Date.now() - sectionStart) / 1000)} s`)
  }
  summary.durationSeconds = Math.round((Date.now() - started) / 1000)

  const dir = join(ROOT, 'bench', 'results')
  await mkdir(dir, { recursive: true })
  const name = context.quick ? 'quick' : 'latest'
  await writeFile(join(dir, `${name}.json`), JSON.stringify(summary, null, 2) + '\n')
  await writeFile(join(dir, `${name}.md`), `Measured ${summary.startedAt} on ${summary.machine.cpus} × ${summary.machine.cpuModel}, ${summary.machine.memoryGiB} GiB, Node ${summary.machine.node}, ${summary.machine.os}; ${summary.durationSeconds} s in all.\n\n${markdownParts.join('\n\n')}\n`)
  console.log('JSON summary:')
  console.log(JSON.stringify(summary.sections.map(s => ({ id: s.id, figures: Object.fromEntries(s.figures.map(f => [f.id, { value: f.value, unit: f.unit, ratio: f.ratio, met: f.met }])) }))))
  console.log(`\nwritten to bench/results/${name}.json and ${name}.md in ${summary.durationSeconds} s`)
  if (failed) process.exitCode = 1
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
