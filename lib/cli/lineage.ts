import {writeFile} from 'node:fs/promises';
import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {lineage, provenanceReport, resolveTargets, roCrate, type EntryReport, type FileRef, type Lineage, type ProvenanceReport} from '../provenance/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore, type Io} from './context.js';
import {targetOptions, targetsOf} from './targets.js';

const ref = (f: FileRef): string => `${f.path} md5 ${f.md5 ?? '-'}`;
const codeText = (code: unknown): string => {
  const c = (code ?? {}) as {builtin?: string; md5?: string; git?: {commit: string; dirty: boolean}; file?: string};
  if (c.builtin) return c.builtin;
  return [c.file, c.md5 ? `md5 ${c.md5}` : '', c.git ? `git ${c.git.commit.slice(0, 12)}${c.git.dirty ? ' (dirty)' : ''}` : ''].filter(Boolean).join(' ') || '-';
};

/** One entry as lineage prints it. */
function entryLines(e: EntryReport): string[] {
  return [
    `  ${String(e.index + 1).padStart(3)}. ${e.step} v${e.version ?? '-'}${e.epoch ? ` (epoch ${e.epoch})` : ''} ${e.status} on ${e.user ? `${e.user}@` : ''}${e.host ?? '-'} ${e.started ?? ''} .. ${e.finished ?? ''}  code ${codeText(e.code)}`,
    ...e.inputs.map((i) => `       in:  ${ref(i)}`),
    ...e.outputs.map((o) => `       out: ${ref(o)}`),
  ];
}

function printLineage(io: Io, l: Lineage): void {
  if (l.detection) {
    const d = l.detection;
    io.out(`detection ${d._id}  time ${new Date(Number(d.time) * 1000).toISOString()}  amplitude ${String(d.amplitude)}  channel ${String(d.channel)}  trace ${String(d.trace)}`);
  }
  const f = l.file;
  io.out(`file ${f.id}  run ${f.run ?? '-'}  md5 ${f.md5 ?? '-'}  ${f.bytes ?? '-'} bytes  stage ${f.stage}${f.epoch ? ` (epoch ${f.epoch})` : ''}${f.periods.length ? `  periods ${f.periods.map((p) => `${p.period} (${p.kind}: ${p.reason})`).join(', ')}` : ''}`);
  io.out('copies:');
  for (const c of l.copies) io.out(`  ${ref(c)}  (${c.by})`);
  io.out(`back to the raw file (${l.back.length} steps):`);
  for (const e of l.back) for (const line of entryLines(e)) io.out(line);
  if (l.kind !== 'detection') {
    io.out(`derived from it (${l.forward.length} steps):`);
    for (const e of l.forward) for (const line of entryLines(e)) io.out(line);
    io.out(`detections made from the file: ${(l.detections ?? []).map((d) => `${d.count} (versions ${d.versions})`).join(', ') || 'none'}`);
  }
}

export function lineageCommand(state: CliState): Command {
  return new Command('lineage')
    .description('an item\'s chain back to its raw file (md5, each copy) and forward to what was derived from it: step, version, code, host, times, inputs and outputs')
    .argument('<id>', 'a detection id, a data-file document id, or a file path (an original or a recorded output)')
    .option('--json', 'print the lineage as one JSON object')
    .action(async (id: string, options: {json?: boolean}, command: Command) => {
      const config = readConfig(globals(command), state.io);
      const found = await withStore(config, (store) => lineage(store, id));
      if (options.json) state.io.out(JSON.stringify(found));
      else printLineage(state.io, found);
    });
}

function printReport(io: Io, r: ProvenanceReport): void {
  io.out(`selection: ${JSON.stringify({...r.selection, documents: undefined})}, ${r.selection.documents} documents (report of ${r.generated})`);
  io.out(`files (${r.files.length}):`);
  for (const f of r.files) io.out(`  ${f.id}  run ${f.run ?? '-'}  md5 ${f.md5 ?? '-'}  time ${f.time !== undefined ? new Date(f.time * 1000).toISOString() : '-'}  stage ${f.stage}${f.epoch ? ` (epoch ${f.epoch})` : ''}${f.excluded ? '  EXCLUDED' : ''}`);
  io.out('where each copy is:');
  for (const f of r.files) for (const c of f.copies) io.out(`  ${f.id}  ${ref(c)}  (${c.by})`);
  io.out(`periods (${r.periods.length}):`);
  for (const p of r.periods) {
    const range = p.from !== undefined ? `${new Date(p.from * 1000).toISOString()} .. ${new Date(p.to! * 1000).toISOString()}` : '';
    io.out(`  ${p.name} (${p.kind}) ${range}${p.runs.length ? ` runs ${p.runs.join(',')}` : ''}: ${p.reason} (set by ${p.by} at ${p.at})${p.removed ? `, removed by ${p.removed.by} at ${p.removed.at}: ${p.removed.reason}` : ''}; in it now: ${p.files_in_force.join(', ') || 'none'}`);
  }
  io.out('code of each step (version, code, hosts, when):');
  for (const c of r.code) io.out(`  ${c.step} v${c.version || '-'}: ${c.runs} runs, code ${c.codes.map(codeText).join('; ') || '-'}, by ${c.users.join(', ') || '-'} on ${c.hosts.join(', ') || '-'}, ${c.first ?? ''} .. ${c.last ?? ''}`);
  io.out(`reprocessings (${r.reprocessings.length}):`);
  for (const m of r.reprocessings) io.out(`  ${m.id}: ${m.step} and after at v${m.version}, ${m.files} files, by ${m.by} at ${m.at}: ${m.reason}`);
  io.out(`intermediate files (${r.intermediates.length}):`);
  for (const i of r.intermediates) io.out(`  ${i.step} v${i.version ?? '-'}  ${i.file}  ${ref(i)}`);
  if (r.missing.length) io.err(`not data-file documents: ${r.missing.join(', ')}`);
}

export function provenanceCommand(state: CliState): Command {
  const command = new Command('provenance')
    .description('one report for a set of documents: which files, where each copy is, periods thrown out and why, the selection, the code and version of each step, who ran what, where the intermediates are')
    .option('--format <format>', 'text, json or ro-crate (an RO-Crate 1.1 ro-crate-metadata.json)', 'text')
    .option('--json', 'the same as --format json')
    .option('--out <file>', 'write the report to this file instead of stdout');
  return targetOptions(command, 'to report on').action(async (ids: string[], options: {format: string; json?: boolean; out?: string; run?: string[]; query?: string; period?: string; selection?: string}, cmd: Command) => {
    const format = options.json ? 'json' : options.format;
    if (!['text', 'json', 'ro-crate'].includes(format)) throw new ConfigError(`--format ${format}: expected text, json or ro-crate`);
    const config = readConfig(globals(cmd), state.io);
    const report = await withStore(config, async (store) => provenanceReport(store, await resolveTargets(store, targetsOf(ids, options))));
    const lines: string[] = [];
    const sink: Io = options.out ? {out: (l) => lines.push(l), err: state.io.err, tty: false} : state.io;
    if (format === 'json') sink.out(JSON.stringify(report));
    else if (format === 'ro-crate') sink.out(JSON.stringify(roCrate(report), null, 2));
    else printReport(sink, report);
    if (options.out) await writeFile(options.out, `${lines.join('\n')}\n`);
    if (report.missing.length) state.exitCode = 1;
  });
}
