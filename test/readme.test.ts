import {execFile, spawn} from 'node:child_process';
import {copyFile, mkdir, mkdtemp, readFile, rm, stat} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {delimiter, dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import test, {type ExecutionContext} from 'ava';

// README's first sections are what a new user types. This test types them: the Quick start's demo
// line in a copy of the repository, the Install block there, then the "Using it" block in an empty
// folder with the command that Install put on the PATH (not a path into the repository).

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The `sh` code blocks of the README section headed `## title`, as their lines. */
export function shellLines(readme: string, title: string): string[] {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section '## ${title}'`);
  const rest = readme.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  const section = end < 0 ? rest : rest.slice(0, end);
  const lines: string[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    lines.push(...block[1]!.split('\n').filter((l) => l.trim() !== ''));
  }
  return lines;
}

interface LineResult {
  code: number;
  out: string;
  err: string;
}

/** Run one README line with bash in `cwd`, as a user would type it. */
function runLine(line: string, cwd: string, env: NodeJS.ProcessEnv): Promise<LineResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', line], {cwd, env, stdio: ['ignore', 'pipe', 'pipe']});
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({code: code ?? 1, out, err}));
  });
}

/**
 * The environment of a user's shell: without the variables `npm test` sets for its scripts (npm_*,
 * node_modules/.bin on the PATH), with `bin` first on the PATH and npm's global prefix in `prefix`.
 */
function userEnv(prefix: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  const path = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.includes('node_modules'));
  env.PATH = [join(prefix, 'bin'), ...path].join(delimiter);
  // Where `npm install -g` puts the command; the registry cache from the suite's own `npm ci` is used first.
  env.npm_config_prefix = prefix;
  env.npm_config_prefer_offline = 'true';
  return env;
}

/** The repository's files as they are in the work tree (tracked and new, not ignored), copied into `dest`. */
async function copyWorkTree(dest: string): Promise<void> {
  const {stdout} = await promisify(execFile)('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {cwd: ROOT, maxBuffer: 64 << 20});
  for (const file of new Set(stdout.split('\0').filter(Boolean))) {
    const from = join(ROOT, file);
    const info = await stat(from).catch(() => undefined);
    if (!info?.isFile()) continue; // deleted in the work tree, or a submodule
    await mkdir(dirname(join(dest, file)), {recursive: true});
    await copyFile(from, join(dest, file));
  }
}

async function runBlock(t: ExecutionContext, lines: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Map<string, LineResult>> {
  const results = new Map<string, LineResult>();
  for (const line of lines) {
    const result = await runLine(line, cwd, env);
    t.is(result.code, 0, `'${line}' in ${cwd} exited ${result.code}:\n${result.err.slice(-2000)}`);
    results.set(line, result);
    if (result.code !== 0) break;
  }
  return results;
}

test('README: the Quick start demo, Install and "Using it" work as written in empty folders with the installed command', async (t) => {
  t.timeout(10 * 60_000, 'npm ci, npm pack and npm install -g of edw, then the chain over 50 files');
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const base = await mkdtemp(join(tmpdir(), 'edw-readme-'));
  t.teardown(() => rm(base, {recursive: true, force: true}));
  const clone = join(base, 'clone');
  const prefix = join(base, 'prefix');
  const user = join(base, 'user');
  await mkdir(user, {recursive: true});
  await copyWorkTree(clone);
  const env = userEnv(prefix);

  // Quick start: the demo line. Its other line, `npm ci && npm test`, is what CI runs (.ci/run), this test included.
  const quick = shellLines(readme, 'Quick start');
  const demoLine = quick.find((l) => l.includes('npm run demo'));
  t.truthy(demoLine, 'Quick start has a demo line');
  t.true(quick.some((l) => l.startsWith('npm ci && npm test')), 'Quick start has the test line CI runs');
  const demo = (await runBlock(t, [demoLine!], clone, env)).get(demoLine!);
  if (!demo || demo.code !== 0) return;
  t.regex(demo.out, /^ingest_detections\s+20\b/m, 'the demo ends with its 20 files at the final stage');

  // Install, in the clone where Quick start ran.
  const install = shellLines(readme, 'Install');
  t.true(install.length > 0);
  const installed = await runBlock(t, install, clone, env);
  if ([...installed.values()].some((r) => r.code !== 0)) return;
  const which = await runLine('command -v edw', user, env);
  t.is(which.out.trim(), join(prefix, 'bin', 'edw'), 'edw on the PATH is the installed command');

  // Using it, in an empty folder.
  const using = shellLines(readme, 'Using it');
  const ran = await runBlock(t, using, user, env);
  if ([...ran.values()].some((r) => r.code !== 0)) return;
  const simulateLine = using.find((l) => l.startsWith('edw simulate'))!;
  const files = Number(/--files (\d+)/.exec(simulateLine)?.[1]);
  t.true(files > 0, 'the simulate line names a number of files');
  const register = ran.get(using.find((l) => l.startsWith('edw register'))!)!;
  t.regex(`${register.out}\n${register.err}`, new RegExp(`\\b${files} files? registered\\b`), 'register says it registered every simulated file');
  const status = await runLine('edw status --json', user, env);
  t.is(status.code, 0, status.err);
  const counts = JSON.parse(status.out) as {total: number; stages: Record<string, number>};
  const stages = Object.keys(counts.stages);
  t.is(counts.total, files, 'status counts every registered file');
  t.is(counts.stages[stages[stages.length - 1]!], files, 'every document is at the final stage');
  const statusLine = using.find((l) => l.startsWith('edw status'))!;
  t.regex(ran.get(statusLine)!.out, new RegExp(`^${stages[stages.length - 1]}\\s+${files}\\b`, 'm'), 'the status table shows them there');
});
