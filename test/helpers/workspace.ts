import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {ExecutionContext} from 'ava';
import {loadConfig, type Config} from '../../lib/config/index.js';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../../lib/design/index.js';
import {openStore, type Store} from '../../lib/store/index.js';

/** A temp folder with an edw.ini for one test; removed on teardown. */
export interface Workspace {
  dir: string;
  configPath: string;
  config: Config;
  /** Open the workspace's database (created, design docs pushed on first open). */
  open(options?: {share?: boolean}): Promise<Store>;
}

export interface WorkspaceOptions {
  /** The database: a server database URL, or undefined for an embedded folder in the workspace. */
  databaseUrl?: string;
  /** Extra edw.ini text (sections). The default three-step chain is used unless [step.*] sections are given. */
  ini?: string;
  /** @default 1s */
  lease?: string;
  /**
   * `[database] request_timeout`. The product's default, so that a server slowed by a busy machine is
   * slow, not unreachable; a test whose faults need a timeout to be noticed (a lost answer) sets less.
   * @default 60s
   */
  requestTimeout?: string;
}

/**
 * The three-step chain as edw.ini sections, with extra settings for move_to_sps (e.g. an SFTP
 * transport), which may also replace its concurrency (4), attempts (2) and timeout (5m). The step
 * timeouts are long so that on a busy machine a slow step is slow, not a failed attempt; a test of
 * timeouts sets its own.
 */
export function chainIni(moveSettings: Record<string, string | number> = {}): string {
  const move = Object.entries({target_dir: 'sps', concurrency: 4, attempts: 2, timeout: '5m', ...moveSettings}).map(([k, v]) => `${k} = ${v}`).join('\n');
  return `
[step.move_to_sps]
after = new
kind = move_to_sps
${move}
[step.signal_processing]
after = move_to_sps
kind = signal_processing
output_dir = processed
concurrency = 2
attempts = 2
timeout = 5m
[step.ingest_detections]
after = signal_processing
kind = ingest_detections
threshold = 50
concurrency = 2
attempts = 2
timeout = 5m
`;
}

export async function workspace(t: ExecutionContext, options: WorkspaceOptions = {}): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'edw-ws-'));
  const stores: Store[] = [];
  t.teardown(async () => {
    for (const store of stores) await store.close().catch(() => {});
    await rm(dir, {recursive: true, force: true});
  });
  await mkdir(join(dir, 'raw'), {recursive: true});
  const steps = options.ini?.includes('[step.') ? '' : chainIni();
  const configPath = join(dir, 'edw.ini');
  await writeFile(configPath, `[database]
url = ${options.databaseUrl ?? './db'}
request_timeout = ${options.requestTimeout ?? '60s'}
[listen]
lease = ${options.lease ?? '1s'}
poll = 2s
backoff = 50ms
max_backoff = 500ms
stop_timeout = 5s
[register]
settle = 0s
[log]
level = warn
${options.ini ?? ''}
${steps}`);
  const config = loadConfig({path: configPath, explicit: true, env: {}});
  let initialised = false;
  return {
    dir, configPath, config,
    async open(openOptions = {}) {
      const store = await openStore({...config.database, create: true, ...openOptions});
      stores.push(store);
      if (!initialised) {
        await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
        initialised = true;
      }
      return store;
    },
  };
}
