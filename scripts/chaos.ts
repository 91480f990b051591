/**
 * `npm run chaos`: many listener processes, SIGKILLs and database restarts on one database, and a
 * watcher on the database's own feed that counts every completed entry that ever vanished (issue 5).
 *
 *   node dist/scripts/chaos.js [--files N] [--seed S] [--stall SECONDS] [--listeners N]
 *                              [--kill-interval MS] [--completions-per-kill N] [--restarts N] [--keep]
 *                              [--nodes URL,URL,... --node-kill CMD --node-start CMD [--node-down MS]]
 *
 * Against a CouchDB cluster (`--nodes`, or EDW_CHAOS_NODES: the nodes' root URLs with an admin's
 * credentials; edw talks to the first), it also kills each node once and starts it again: the others
 * first, the first node last, when 1/(N+1), 2/(N+1)... of the step completions are seen. `--node-kill`
 * and `--node-start` (or EDW_CHAOS_NODE_KILL, EDW_CHAOS_NODE_START) are shell commands in which `{n}`
 * is the node's number (1 for the first URL); the start command returns once the node answers. A node
 * stays down `--node-down` ms (default 5000). After the last document reaches the final stage the run
 * waits (up to the stall limit) for the listeners to merge every conflicted document, then reads the
 * final state: an entry seen completed that is not in the final document is lost; a document still
 * carrying `_conflicts` counts as conflicted at end.
 *
 * It starts pouchdb-server on disk on a free loopback port (or uses the CouchDB named by
 * EDW_TEST_COUCHDB_URL, which it cannot restart), simulates and registers N small files, runs
 * `--listeners` `edw listen STEP` processes per step, kills one with SIGKILL at random moments (seeded)
 * and starts it again, restarts the server when a third and two thirds of the step completions are
 * seen, and ends once every document is at the final stage, or when no step completed for `--stall`
 * seconds (what is not at the final stage then counts as stuck). Nothing else depends on the clock: a
 * kill waits for step completions since the one before, so a slow or busy machine gets fewer kills
 * and a longer run, never a run that kills faster than the listeners can start. It prints one figure
 * per line and exits 1 if anything was lost, stuck or completed twice (2 on bad usage).
 *
 * Re-executions are counted from `edw.token`, the fencing-token counter the runtime bumps on every
 * claim and that no step writes: each step that ran to completion took one claim, so every claim beyond
 * the completed entries is a step started again (after a kill, a lost lease, an outage or a retryable
 * failure). It is an upper bound: a listener killed between its claim and the step's start counts too.
 */
import {exec} from 'node:child_process';
import {existsSync} from 'node:fs';
import {promisify} from 'node:util';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {loadConfig} from '../lib/config/index.js';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {isCompleted, isDataFile, stageOf, type DataFileDoc} from '../lib/pipeline/index.js';
import {registerFiles} from '../lib/register/index.js';
import {simulate} from '../lib/simulate/index.js';
import {openStore} from '../lib/store/index.js';
import {FeedWatcher} from './chaos/ledger.js';
import {ListenerSlot} from './chaos/listener-slot.js';
import {startCouchServer} from './support/couch-server.js';

export interface ChaosOptions {
  /** Simulated data files (1 to 1000). @default 1000 */
  files?: number;
  /** Seed of the simulation and of the kill schedule. @default 1 */
  seed?: number;
  /**
   * Seconds without any step completing after which the run stops and counts every document not at
   * the final stage as stuck: a progress timeout, not a deadline (a slow machine just runs longer).
   * @default 120
   */
  stallSeconds?: number;
  /** `edw listen STEP` processes per step. @default 4 */
  listenersPerStep?: number;
  /**
   * Mean time between two SIGKILLs, in ms; each gap is uniform in [0.25, 1.75] times this, and a kill
   * also waits for `completionsPerKill` step completions since the last kill. @default 2000
   */
  killIntervalMs?: number;
  /** Step completions a kill waits for since the previous kill, so that kills never outpace the work. @default 1 */
  completionsPerKill?: number;
  /** Database server restarts during the run (ignored, 0, for an external CouchDB). @default 2 */
  restarts?: number;
  /** The claim lease the listeners use, in ms. @default 2000 */
  leaseMs?: number;
  /** The compiled `edw` executable. @default dist/lib/cli/bin.js of this package */
  bin?: string;
  /** Keep the temp folder (config, files, listener logs) and say where it is. @default false */
  keep?: boolean;
  /** Where progress notes go. @default stderr */
  note?: (line: string) => void;
  /** Root URLs (with an admin's credentials) of a CouchDB cluster's nodes; edw talks to the first. @default EDW_CHAOS_NODES, comma-separated */
  nodes?: string[];
  /** Shell command that kills node `{n}` (1-based). @default EDW_CHAOS_NODE_KILL */
  nodeKill?: string;
  /** Shell command that starts node `{n}` and returns once it answers. @default EDW_CHAOS_NODE_START */
  nodeStart?: string;
  /** How long a killed node stays down before it is started again, in ms. @default 5000 */
  nodeDownMs?: number;
}

export interface ChaosReport {
  /** What the run was against, e.g. `pouchdb-server on disk` or `CouchDB at http://host:5984/ (not restarted)`. */
  server: string;
  documents: number;
  lost: number;
  /** Documents that ever held two completions of record (not marked superseded) of one step and version. */
  doubleCompletions: number;
  /** Completed entries marked as superseded by their step's completion of record: re-executions kept as history. */
  superseded: number;
  stuck: number;
  kills: number;
  databaseRestarts: number;
  reExecutions: number;
  seconds: number;
  /** Listener processes that exited without being killed by the run (each is restarted). */
  unexpectedExits: number;
  /** Cluster nodes killed and started again. */
  nodeKills: number;
  /** Documents still carrying `_conflicts` in the final state. */
  conflictedAtEnd: number;
  /** Completed entries that some revision seen on the feed did not show for a while (a conflict's losing branch), found again in the final state. */
  hiddenMeanwhile: number;
  stallSeconds: number;
  /** Whether the run ended because nothing completed for `stallSeconds` (not every document done). */
  stalled: boolean;
}

const STEPS = ['move_to_sps', 'signal_processing', 'ingest_detections'] as const;
const FINAL = STEPS[STEPS.length - 1]!;

/** mulberry32: a small seeded PRNG, so a seed replays the same kill schedule. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function defaultBin(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // From dist/scripts/ the executable is a sibling; from the sources (tsx) it is under dist/.
  const candidates = [join(here, '../lib/cli/bin.js'), join(here, '../dist/lib/cli/bin.js')];
  return candidates.find((path) => existsSync(path)) ?? candidates[1]!;
}

function edwIni(databaseUrl: string, dir: string, leaseMs: number): string {
  const step = (name: string, after: string, extra: string): string =>
    `[step.${name}]\nafter = ${after}\nkind = ${name}\n${extra}\nattempts = 20\ntimeout = 30s\n`;
  return `[database]
url = ${databaseUrl}
request_timeout = 30s
[listen]
lease = ${leaseMs}ms
poll = 2s
backoff = 100ms
max_backoff = 1s
stop_timeout = 5s
[register]
settle = 0s
[log]
level = warn
${step('move_to_sps', 'new', `target_dir = ${join(dir, 'sps')}\nconcurrency = 4`)}
${step('signal_processing', 'move_to_sps', `output_dir = ${join(dir, 'processed')}\nconcurrency = 2`)}
${step('ingest_detections', 'signal_processing', 'threshold = 50\nconcurrency = 2')}`;
}

/** Run the chaos scenario and return its figures. Throws only when it could not set up. */
export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const env = process.env;
  const o = {files: 1000, seed: 1, stallSeconds: 120, listenersPerStep: 4, killIntervalMs: 2000, completionsPerKill: 1, restarts: 2, leaseMs: 2000, keep: false,
    nodes: (env.EDW_CHAOS_NODES ?? '').split(',').map((url) => url.trim()).filter(Boolean), nodeKill: env.EDW_CHAOS_NODE_KILL ?? '', nodeStart: env.EDW_CHAOS_NODE_START ?? '', nodeDownMs: 5000,
    note: (line: string): void => void process.stderr.write(`${line}\n`),
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))} as Required<Omit<ChaosOptions, 'bin'>> & {bin?: string};
  for (const [name, value, min] of [['files', o.files, 1], ['listenersPerStep', o.listenersPerStep, 1], ['restarts', o.restarts, 0],
    ['stallSeconds', o.stallSeconds, 1], ['killIntervalMs', o.killIntervalMs, 1], ['completionsPerKill', o.completionsPerKill, 1], ['leaseMs', o.leaseMs, 100], ['nodeDownMs', o.nodeDownMs, 0]] as const) {
    if (!Number.isSafeInteger(value) || value < min) throw new TypeError(`chaos option ${name}: expected an integer of at least ${min}, got ${String(value)}`);
  }
  const cluster = o.nodes.length > 0;
  if (cluster && (!o.nodeKill.includes('{n}') || !o.nodeStart.includes('{n}'))) {
    throw new TypeError('chaos option nodes: a cluster needs --node-kill and --node-start commands (or EDW_CHAOS_NODE_KILL, EDW_CHAOS_NODE_START), each with {n} for the node number');
  }
  const bin = o.bin ?? defaultBin();
  const random = seededRandom(o.seed);
  const dir = await mkdtemp(join(tmpdir(), 'edw-chaos-'));
  const server = await startCouchServer({onDisk: true, ...(cluster ? {externalUrl: o.nodes[0]} : {})});
  const restarts = server.canRestart ? o.restarts : 0;
  const serverLabel = server.canRestart ? 'pouchdb-server on disk'
    : cluster ? `CouchDB cluster of ${o.nodes.length} nodes, edw at ${server.location}` : `CouchDB at ${server.location} (not restarted: the run cannot stop it)`;
  const slots: ListenerSlot[] = [];
  let watcher: FeedWatcher | undefined;
  try {
    const databaseUrl = server.databaseUrl('edw-chaos');
    const parsed = new URL(databaseUrl);
    const env: NodeJS.ProcessEnv = {EDW_DB_USER: decodeURIComponent(parsed.username) || undefined, EDW_DB_PASSWORD: decodeURIComponent(parsed.password) || undefined};
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    parsed.username = '';
    parsed.password = '';
    const dbName = decodeURIComponent(parsed.pathname.split('/').filter(Boolean).pop()!);
    const configPath = join(dir, 'edw.ini');
    await writeFile(configPath, edwIni(parsed.href, dir, o.leaseMs));
    const config = loadConfig({path: configPath, explicit: true, env});

    o.note(`chaos: ${o.files} files, ${o.listenersPerStep} listeners per step, seed ${o.seed}, stall limit ${o.stallSeconds} s, ${serverLabel}, work in ${dir}`);
    const simulated = await simulate({outDir: join(dir, 'raw'), files: o.files, events: 4, seed: o.seed});
    const store = await openStore({...config.database, create: true});
    try {
      await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
      const report = await registerFiles({store, paths: simulated.files, settleMs: 0});
      if (report.created.length !== o.files) throw new Error(`registered ${report.created.length} of ${o.files} files: ${JSON.stringify(report.refused.concat().slice(0, 3))}`);
    } finally {
      await store.close();
    }

    const started = Date.now();
    // Progress, not a deadline, decides when the run gives up: the last time the step completions
    // seen went up. The feed watcher wakes whoever waits on it.
    let lastCompletions = 0;
    let lastProgressAt = started;
    const wakers = new Set<() => void>();
    const progressed = (): void => {
      if (watcher!.ledger.completions > lastCompletions) {
        lastCompletions = watcher!.ledger.completions;
        lastProgressAt = Date.now();
      }
      for (const wake of [...wakers]) wake();
    };
    /** Resolves on the watcher's next progress, or after `ms` at most (so stalls are noticed too). */
    const nextProgress = (ms: number): Promise<void> => new Promise<void>((resolveWake) => {
      const done = (): void => {
        wakers.delete(done);
        clearTimeout(timer);
        resolveWake();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
    });
    watcher = new FeedWatcher(server, dbName, FINAL, progressed);
    watcher.start();
    for (const step of STEPS) {
      for (let i = 0; i < o.listenersPerStep; i++) {
        const slot = new ListenerSlot(step, i, bin, configPath, join(dir, `listener-${step}-${i}.log`), env, o.note);
        slot.start();
        slots.push(slot);
      }
    }

    const finished = (): boolean => watcher!.ledger.atFinal.size >= o.files;
    const stalled = (): boolean => Date.now() - lastProgressAt > o.stallSeconds * 1000;
    const over = (): boolean => finished() || stalled();
    let kills = 0;
    let databaseRestarts = 0;
    // Kills: one listener at a time, at seeded random moments, started again after a short while; each
    // after completionsPerKill step completions since the previous kill, so that kills never outpace the listeners.
    const killing = (async () => {
      let completionsAtKill = 0;
      while (!over()) {
        await delay(o.killIntervalMs * (0.25 + 1.5 * random()));
        while (!over() && watcher!.ledger.completions < completionsAtKill + o.completionsPerKill) await nextProgress(500);
        if (over()) break;
        completionsAtKill = watcher!.ledger.completions;
        const slot = slots[Math.floor(random() * slots.length)]!;
        const downMs = 100 + random() * 900;
        if (!slot.child) continue;
        await slot.kill('SIGKILL');
        kills++;
        setTimeout(() => slot.start(), downMs);
      }
    })();
    // Cluster nodes: each killed once and started again, the others first and the one edw talks to
    // last, when 1/(N+1), 2/(N+1)... of all step completions have been seen.
    let nodeKills = 0;
    const killingNodes = (async () => {
      const total = o.files * STEPS.length;
      const order = o.nodes.map((_, i) => i + 1).slice(1).concat(cluster ? [1] : []);
      for (const [k, n] of order.entries()) {
        while (watcher!.ledger.completions < (total * (k + 1)) / (order.length + 1) && !over()) await nextProgress(500);
        if (over()) break;
        o.note(`chaos: killing node ${n} at ${watcher!.ledger.completions}/${total} step completions`);
        await shell(o.nodeKill.replaceAll('{n}', String(n)));
        nodeKills++;
        await delay(o.nodeDownMs);
        await shell(o.nodeStart.replaceAll('{n}', String(n)));
        o.note(`chaos: node ${n} started again`);
      }
    })();
    // Restarts: when a third and two thirds (for 2) of all step completions have been seen.
    const restarting = (async () => {
      const total = o.files * STEPS.length;
      for (let n = 1; n <= restarts; n++) {
        while (watcher!.ledger.completions < (total * n) / (restarts + 1) && !over()) await nextProgress(500);
        if (over()) break;
        o.note(`chaos: restarting the database server at ${watcher!.ledger.completions}/${total} step completions`);
        await server.restart();
        databaseRestarts++;
      }
    })();
    while (!over()) await nextProgress(1000);
    if (!finished()) o.note(`chaos: no step completed for ${o.stallSeconds} s: stopping with ${watcher.ledger.atFinal.size}/${o.files} documents at the final stage`);
    await Promise.all([killing, restarting, killingNodes]);
    // The listeners merge conflicted documents (on a cluster, the last ones may come with the last
    // node's return, once its copies are brought up to date by internal replication): give them until
    // no node has replication to do and none is left, or the stall limit.
    if (finished() && server.kind === 'couchdb') {
      const until = Date.now() + o.stallSeconds * 1000;
      const settled = async (): Promise<number> => {
        const jobs = cluster ? await Promise.all(o.nodes.map((node) => replicationJobs(node))) : [0];
        return jobs.some((n) => n !== 0) ? -1 : countConflictedNow(server, dbName);
      };
      let conflicted = await settled();
      if (conflicted !== 0) o.note(`chaos: waiting for the nodes to catch up and the conflicted documents to be merged (${conflicted} conflicted, -1: not known yet)`);
      while (conflicted !== 0 && Date.now() < until) {
        await delay(500);
        conflicted = await settled();
      }
    }
    const seconds = (Date.now() - started) / 1000;
    await Promise.all(slots.map((slot) => slot.stop(10_000)));
    await watcher.stop();

    // The final state, read in full: every document checked once more against everything seen.
    const all = await server.request('GET', `${encodeURIComponent(dbName)}/_all_docs?include_docs=true&conflicts=true`);
    if (all.status !== 200) throw new Error(`_all_docs answered HTTP ${all.status}`);
    let documents = 0;
    let stuck = 0;
    let tokens = 0;
    let completed = 0;
    let conflictedAtEnd = 0;
    const present = new Set<string>();
    for (const row of all.body.rows as Array<{id: string; doc?: DataFileDoc}>) {
      if (!row.doc || !isDataFile(row.doc)) continue;
      documents++;
      present.add(row.id);
      watcher.ledger.settle(row.id, row.doc);
      if (row.doc._conflicts?.length) conflictedAtEnd++;
      if (stageOf(row.doc) !== FINAL) stuck++;
      tokens += row.doc.edw?.token ?? 0;
      completed += row.doc.process.filter(isCompleted).length;
    }
    for (const id of watcher.ledger.ids()) if (!present.has(id)) watcher.ledger.settle(id, undefined);
    const lost = watcher.ledger.lost;
    for (const entry of [...lost].slice(0, 10)) o.note(`chaos: lost: ${entry.slice(0, 400)}`);
    // A document registered but gone is lost work too (its entries were counted by observe if seen).
    const missing = o.files - documents;
    return {
      server: serverLabel, documents, lost: lost.size, doubleCompletions: watcher.ledger.doubles.size, superseded: watcher.ledger.superseded.size,
      stuck: stuck + Math.max(0, missing), kills, databaseRestarts, reExecutions: Math.max(0, tokens - completed),
      seconds: Math.round(seconds), unexpectedExits: slots.reduce((n, s) => n + s.unexpectedExits, 0), stallSeconds: o.stallSeconds,
      stalled: !finished(), nodeKills, conflictedAtEnd, hiddenMeanwhile: [...watcher.ledger.vanished].filter((entry) => !lost.has(entry)).length,
    };
  } finally {
    await Promise.all(slots.map((slot) => slot.kill('SIGKILL', {final: true})));
    await watcher?.stop();
    // --keep keeps an external CouchDB's database too, for a look at what the figures say.
    if (o.keep && server.kind === 'couchdb') o.note(`chaos: kept the database at ${server.location}`);
    else await server.stop().catch((error: unknown) => o.note(`chaos: could not stop the server: ${(error as Error).message}`));
    if (o.keep) o.note(`chaos: kept ${dir}`);
    else await rm(dir, {recursive: true, force: true});
  }
}

/** The figures, one per line, as issue 5 asks. */
export function formatReport(r: ChaosReport): string[] {
  return [
    `server: ${r.server}`,
    `stall limit: ${r.stallSeconds} s${r.stalled ? ' (reached)' : ''}`,
    `documents: ${r.documents}`,
    `lost: ${r.lost}`,
    `double completions of record: ${r.doubleCompletions}`,
    `superseded re-executions: ${r.superseded}`,
    `stuck: ${r.stuck}`,
    `conflicted at end: ${r.conflictedAtEnd}`,
    `listener processes that exited by themselves: ${r.unexpectedExits}`,
    `kills: ${r.kills}`,
    `database restarts: ${r.databaseRestarts}`,
    `node kills: ${r.nodeKills}`,
    `re-executions: ${r.reExecutions}`,
    `entries hidden by a conflict for a while: ${r.hiddenMeanwhile}`,
    `seconds: ${r.seconds}`,
  ];
}

/** Whether the run kept every promise: nothing lost, stuck, completed twice or left conflicted, no listener exited by itself. */
export function passed(r: ChaosReport): boolean {
  return r.lost === 0 && r.doubleCompletions === 0 && r.stuck === 0 && r.conflictedAtEnd === 0 && r.unexpectedExits === 0;
}

const run = promisify(exec);

/** Run a shell command of the user's (a node's kill or start); its output goes nowhere, a failure says which. */
async function shell(command: string): Promise<void> {
  try {
    await run(command, {timeout: 120_000});
  } catch (error) {
    throw new Error(`command failed: ${command}: ${(error as Error).message.split('\n')[0]}`, {cause: error});
  }
}

/** Internal replication jobs a cluster node has to do (`/_node/_local/_system`); -1 when it cannot answer. */
async function replicationJobs(nodeUrl: string): Promise<number> {
  try {
    const url = new URL('_node/_local/_system', nodeUrl);
    const auth = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
    url.username = '';
    url.password = '';
    const answer = await fetch(url, {headers: {authorization: `Basic ${auth}`}, signal: AbortSignal.timeout(10_000)});
    const body = (await answer.json()) as {internal_replication_jobs?: number};
    return answer.ok && typeof body.internal_replication_jobs === 'number' ? body.internal_replication_jobs : -1;
  } catch {
    return -1;
  }
}

/** Documents with `_conflicts` now, from the `conflicts` view (CouchDB); -1 when the server cannot answer yet. */
async function countConflictedNow(server: {request: (method: string, path: string) => Promise<{status: number; body: any}>}, db: string): Promise<number> {
  const answer = await server.request('GET', `${encodeURIComponent(db)}/_design/edw/_view/conflicts?reduce=true`).catch(() => undefined);
  return answer?.status === 200 ? Number(answer.body.rows?.[0]?.value ?? 0) : -1;
}

function parseArgs(argv: string[]): ChaosOptions {
  const options: ChaosOptions = {};
  const names: Record<string, keyof ChaosOptions> = {
    '--files': 'files', '--seed': 'seed', '--stall': 'stallSeconds', '--listeners': 'listenersPerStep',
    '--kill-interval': 'killIntervalMs', '--completions-per-kill': 'completionsPerKill', '--restarts': 'restarts', '--node-down': 'nodeDownMs',
  };
  const texts: Record<string, 'nodeKill' | 'nodeStart'> = {'--node-kill': 'nodeKill', '--node-start': 'nodeStart'};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--keep') {
      options.keep = true;
      continue;
    }
    const [flag, inline] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    if (flag === '--nodes' || texts[flag]) {
      const text = inline ?? argv[++i];
      if (!text) throw new TypeError(`${flag}: expected a value`);
      if (flag === '--nodes') options.nodes = text.split(',').map((url) => url.trim()).filter(Boolean);
      else options[texts[flag]!] = text;
      continue;
    }
    const key = names[flag];
    if (!key) throw new TypeError(`unknown option ${arg} (options: ${[...Object.keys(names), '--nodes', ...Object.keys(texts)].join(', ')}, --keep)`);
    const value = inline ?? argv[++i];
    const n = Number(value);
    if (value === undefined || !Number.isSafeInteger(n)) throw new TypeError(`${flag} ${value ?? ''}: expected a whole number`);
    (options as Record<string, number>)[key] = n;
  }
  return options;
}

async function main(): Promise<number> {
  let options: ChaosOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n`);
    return 2;
  }
  try {
    const report = await runChaos(options);
    for (const line of formatReport(report)) process.stdout.write(`${line}\n`);
    if (report.unexpectedExits > 0) process.stderr.write(`chaos: ${report.unexpectedExits} listener process(es) exited by themselves\n`);
    return passed(report) ? 0 : 1;
  } catch (error) {
    process.stderr.write(`chaos: could not run: ${(error as Error).message}\n`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
