import {Command, CommanderError, Help, type Option} from 'commander';
import {EdwError} from '../errors/index.js';
import type {CliState} from './command.js';
import {processIo, type Io} from './context.js';
import {bundleCommand} from './bundle.js';
import {demoCommand} from './demo.js';
import {detectionsCommand} from './detections.js';
import {exportCommand} from './export.js';
import {initCommand, pushDesignCommand} from './init.js';
import {listCommand, listenersCommand, retryCommand, showCommand, statusCommand} from './inspect.js';
import {listenCommand} from './listen.js';
import {queryCommand} from './query.js';
import {lineageCommand, provenanceCommand} from './lineage.js';
import {periodCommand} from './period.js';
import {reprocessCommand} from './reprocess.js';
import {selectionCommand} from './selection.js';
import {registerCommand} from './register.js';
import {serveCommand} from './serve.js';
import {simulateCommand} from './simulate.js';
import {SIMULATE_DEFAULTS} from '../simulate/index.js';
import {versionLine} from './version.js';

/**
 * Examples shown at the end of each command's `--help` (the program's under `edw`). Every command
 * has some: a test checks each command of `buildProgram`, so a new command needs its entry here.
 */
export const EXAMPLES: Record<string, string[]> = {
  'edw': ['edw init && edw simulate --out raw --files 50 && edw register raw', 'edw listen', 'edw status', 'edw list --help'],
  'init': ['edw init', 'edw --config /etc/edw/edw.ini init'],
  'push-design': ['edw push-design --dry-run   # what would change', 'edw push-design'],
  'register': ['edw register raw --conditions raw/conditions.json', 'edw register raw/ma22a000_003.edwr --replace'],
  'simulate': ['edw simulate --out raw --files 50', 'edw simulate --out raw --files 5 --events 100 --seed 7 --run ma23b000'],
  'listen': ['edw listen                  # every step, until Ctrl-C', 'edw listen move_to_sps --once', 'edw listen --once --verbose   # a log line per document and step', 'edw listen --metrics-port 9470   # Prometheus metrics at http://127.0.0.1:9470/metrics'],
  'status': ['edw status', 'edw status --json', 'edw status --versions   # per step: current version, older ones'],
  'list': ['edw list --stage new --limit 20', 'edw list --stage move_to_sps --failed --json'],
  'show': ['edw show ma22a000_000', 'edw show ma22a000_000 --json'],
  'retry': ['edw retry ma22a000_000 ma22a000_001', 'edw retry --step signal_processing'],
  'detections': [
    'edw detections --from 2013-09-03T15:00:00Z --to 2013-09-03T16:00:00Z', 'edw detections --from 1378222673 --to 1378226273 --json',
    'edw detections --season 2013/14 --run ma22a000 --min-amplitude 100 --rate day',
  ],
  'query': [
    "edw query --season 2013/14 'conditions.temperature<0.02'",
    "edw query --run ma22a000 --run ma22a001 --stage signal_processing --json",
    "edw query 'conditions.channel in (A,B)' --month 2013-10 --ids",
    'edw query --show 0cc175b9c0f1b6a831c399e269772661',
  ],
  'bundle': [
    'edw bundle 0cc175b9c0f1b6a831c399e269772661 --what raw --out delivery/tunka-2025',
    'edw bundle 0cc175b9c0f1b6a831c399e269772661 --what signal_processing --out pulses --gzip',
  ],
  'export': [
    'edw export documents --format ndjson --out documents.ndjson   # again later: only what is new',
    'edw export detections --query 0cc175b9c0f1b6a831c399e269772661 --format csv --out detections.csv',
  ],
  'listeners': ['edw listeners', 'edw listeners --json'],
  'serve': ['edw serve                     # http://127.0.0.1:8470/api/v1/status', 'edw serve --host 0.0.0.0 --port 8080'],
  'demo': ['edw demo', 'edw demo --dir /tmp/edw-demo --files 5'],
  'period': ['edw period add power-cut-1 --from 2013-09-03T15:00:00Z --to 2013-09-03T16:10:00Z --reason "power cut in the cryostat hall"', 'edw period list', 'edw period show power-cut-1', 'edw period remove power-cut-1 --reason "set by mistake"'],
  'period add': ['edw period add power-cut-1 --from 2013-09-03T15:00:00Z --to 2013-09-03T16:10:00Z --reason "power cut"', 'edw period add bad-run --run ma22a001 --reason "HV unstable" --json', 'edw period add calib --from 1378220000 --to 1378223600 --kind note --reason "calibration source in"'],
  'reprocess': ['edw reprocess --step signal_processing --version 2 --run ma22a000 --reason "new baseline fit"', 'edw reprocess --step ingest_detections --period calib --reason "threshold was wrong"', 'edw reprocess --step signal_processing ma22a000_003 --reason "retest" --json'],
  'lineage': ['edw lineage detection:ma22a000_001:000012:2.1', 'edw lineage ma22a000_001 --json', 'edw lineage /data/processed/ma22a000/ma22a000_001.v2.pulses.jsonl'],
  'provenance': ['edw provenance --run ma22a000', 'edw provenance --selection golden --json', 'edw provenance --query q1 --format ro-crate --out ro-crate-metadata.json'],
  'selection': ['edw selection save golden --run ma22a000 --reason "runs for the 2013 paper"', 'edw selection show golden --at 2026-12-01T00:00:00Z', 'edw selection list'],
  'selection save': ['edw selection save golden --run ma22a000 --reason "runs for the 2013 paper"', 'edw selection save golden --query q1', 'edw selection save few ma22a000_001 ma22a000_002'],
  'selection show': ['edw selection show golden', 'edw selection show golden --at 2026-12-01T00:00:00Z --json'],
  'selection list': ['edw selection list', 'edw selection list --json'],
  'period list': ['edw period list', 'edw period list --json'],
  'period show': ['edw period show power-cut-1', 'edw period show power-cut-1 --json'],
  'period remove': ['edw period remove power-cut-1 --reason "the power was back earlier: wrong period"'],
};

/**
 * Defaults shown in help for options whose default is applied further in (by the library function
 * the command calls) rather than declared on the option; a declared default wins over these.
 */
const SHOWN_DEFAULTS: Record<string, Record<string, string>> = {
  simulate: Object.fromEntries(Object.entries(SIMULATE_DEFAULTS).map(([key, value]) => [`--${key}`, String(value)])),
};

/** Commander's help, with "(required)" after a mandatory option's description and the defaults of SHOWN_DEFAULTS. */
class EdwHelp extends Help {
  readonly #shownDefaults: Record<string, string>;

  constructor(shownDefaults: Record<string, string> = {}) {
    super();
    this.#shownDefaults = shownDefaults;
  }

  override optionDescription(option: Option): string {
    const description = super.optionDescription(option);
    const shown = option.defaultValue === undefined ? this.#shownDefaults[option.long ?? ''] : undefined;
    const extra = [...(shown !== undefined ? [`(default: ${shown})`] : []), ...(option.mandatory ? ['(required)'] : [])];
    return [description, ...extra].filter(Boolean).join(' ');
  }
}

/** Raised by `--version` to stop parsing; main() prints the version (it needs async reads). */
const VERSION_ASKED = 'edw.version';

/** Help, error output, examples and exit override: the same for the program and every command. */
function applyConventions(command: Command, io: Io): void {
  command.exitOverride().configureOutput({
    writeOut: (s) => io.out(s.trimEnd()),
    writeErr: (s) => io.err(s.trimEnd()),
    // Every error is one line starting `edw: `, commander's usage errors (`error: unknown option ...`,
    // a suggestion on a line of its own) too.
    outputError: (s, write) => write(s.trim().replace(/^error: /, 'edw: ').replace(/\s*\n\s*/g, ' ')),
  });
  const shownDefaults = command.parent && !command.parent.parent ? SHOWN_DEFAULTS[command.name()] : undefined;
  command.createHelp = () => Object.assign(new EdwHelp(shownDefaults), command.configureHelp());
  // A subcommand (`period add`) has its examples under its full name.
  const name = !command.parent ? 'edw' : command.parent.parent ? `${command.parent.name()} ${command.name()}` : command.name();
  const examples = EXAMPLES[name];
  if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}`);
}

/** Build the `edw` program; actions report through `state`. */
export function buildProgram(state: CliState, argv: readonly string[] = []): Command {
  const program = new Command('edw')
    .description('process experiment data files through a CouchDB change feed')
    .option('--config <path>', 'edw.ini to read (default: ./edw.ini if present, else built-in defaults)')
    .option('--debug', 'debug logging, and stack traces for unexpected errors');
  // Commander reads the program's options after a command's name too: `edw reprocess --version 2`
  // would print edw's version. After `reprocess`, --version is reprocess's own.
  const reprocessAt = argv.indexOf('reprocess');
  if (reprocessAt < 0 || !argv.slice(reprocessAt).includes('--version')) {
    program.option('-V, --version', 'print the version of edw and of its design documents');
    program.on('option:version', () => {
      throw new CommanderError(0, VERSION_ASKED, 'version');
    });
  }
  applyConventions(program, state.io);
  for (const make of [initCommand, pushDesignCommand, registerCommand, simulateCommand, listenCommand, statusCommand, listCommand, showCommand, retryCommand, detectionsCommand, queryCommand, bundleCommand, exportCommand, listenersCommand, serveCommand, demoCommand, periodCommand, reprocessCommand, selectionCommand, lineageCommand, provenanceCommand]) {
    const command = make(state);
    program.addCommand(command);
    applyConventions(command, state.io);
    for (const sub of command.commands) applyConventions(sub, state.io);
  }
  return program;
}

/** Parse and run; `--version` stops the parse, then its line is printed here (it reads the design documents). */
async function parse(program: Command, argv: string[], io: Io): Promise<void> {
  try {
    await program.parseAsync(argv, {from: 'user'});
  } catch (error) {
    if (!(error instanceof CommanderError && error.code === VERSION_ASKED)) throw error;
    io.out(await versionLine());
  }
}

/**
 * Run edw with `argv` (without node and script). Returns the exit code: 0 done; 1 a failure (part of
 * what was asked failed, a server unreachable); 2 bad usage or configuration.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const state: CliState = {io, exitCode: 0};
  const program = buildProgram(state, argv);
  try {
    await parse(program, argv, io);
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; any other usage problem is bad usage (2), which commander reports as 1.
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? 0 : 2;
    }
    if (error instanceof EdwError) {
      io.err(`edw: ${error.message}`);
      if (argv.includes('--debug') && error.cause) io.err(String((error.cause as Error).stack ?? error.cause));
      return error.exitCode;
    }
    const e = error as Error;
    io.err(`edw: unexpected error: ${e.message?.split('\n')[0] ?? String(error)}${argv.includes('--debug') ? '' : ' (run with --debug for details)'}`);
    if (argv.includes('--debug')) io.err(String(e.stack));
    return 1;
  }
}
