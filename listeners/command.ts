import {spawn} from 'node:child_process';
import {access, constants, mkdir, stat} from 'node:fs/promises';
import {dirname, isAbsolute, join, resolve} from 'node:path';
import {ConfigError, StepError} from '../lib/errors/index.js';
import {fileIdentity} from './code-identity.js';
import type {StepDefinition} from './definition.js';

/** Split a command line into arguments (single and double quotes group; no shell is involved). */
export function splitCommand(line: string): string[] {
  const args: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of line.matchAll(pattern)) args.push(match[1]?.replace(/\\(.)/g, '$1') ?? match[2] ?? match[3]!);
  return args;
}

/** Exit status meaning "try again later" (sysexits EX_TEMPFAIL): the attempt is retried. */
export const EXIT_TEMPFAIL = 75;

export interface CommandStepOptions {
  /**
   * The folder a relative executable (`./bin/fit`, anything with a `/`) is found in, and the command's
   * working directory: the config file's folder (`StepConfig.dir`). A bare name (`python3`) is looked
   * up on PATH. @default process.cwd()
   */
  dir?: string;
}

/**
 * A step that runs an executable: `command` with {input}, {output_dir}, {id} and {version} placeholders
 * (also in EDW_INPUT, EDW_OUTPUT_DIR, EDW_DOC_ID, EDW_STEP_VERSION; {version} in an output name keeps
 * each version's output apart). Exit 0 with a JSON object on the last line of stdout is the
 * result; exit 75 is an error that may pass; any other exit is an error carrying the last lines of stderr.
 * Its one setting is `output_dir` (default: a folder named after the step beside its input).
 */
export function commandStep(name: string, command: string, version: string, options: CommandStepOptions = {}): StepDefinition {
  const dir = options.dir ?? process.cwd();
  const template = splitCommand(command);
  if (template.length === 0) throw new ConfigError(`[step.${name}] command is empty`);
  const written = template[0]!;
  // A path is a path from the config file's folder, as every path in edw.ini; a bare name is for PATH.
  const isPath = written.includes('/') && !written.includes('{');
  if (isPath && !isAbsolute(written)) template[0] = resolve(dir, written);
  return {
    version,
    // The executable's identity: a path as written, a bare name as PATH finds it, none when the program is a placeholder.
    ...(written.includes('{') ? {} : {identify: fileIdentity(template[0]!, {lookup: !isPath})}),
    settings: {output_dir: 'folder for the command\'s output, given as {output_dir} (default: <folder of the input>/<step name>)'},
    async checkSettings() {
      if (!isPath) return;
      const program = template[0]!;
      const problem = await stat(program).then(
        (s) => (s.isFile() ? access(program, constants.X_OK).then(() => undefined, () => 'is not executable') : 'is not a file'),
        (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? 'does not exist' : `cannot be read (${error.code ?? error.message})`),
      );
      if (problem) throw new ConfigError(`[step.${name}] command ${written}: ${program} ${problem}`);
    },
    async run(doc, {input, settings, signal}) {
      const outputDir = settings.output_dir ?? join(dirname(input ?? '.'), name);
      await mkdir(outputDir, {recursive: true});
      const fill = (arg: string): string => arg.replaceAll('{input}', input ?? '').replaceAll('{output_dir}', outputDir).replaceAll('{id}', doc._id).replaceAll('{version}', version);
      const [program, ...args] = template.map(fill);
      const child = spawn(program!, args, {
        signal, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
        env: {...process.env, EDW_INPUT: input ?? '', EDW_OUTPUT_DIR: outputDir, EDW_DOC_ID: doc._id, EDW_STEP_VERSION: version},
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        stdout = (stdout + s).slice(-65536);
      });
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr = (stderr + s).slice(-8192);
      });
      const code = await new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (exit) => resolve(exit));
      }).catch((error: NodeJS.ErrnoException) => {
        if (error.name === 'AbortError') throw error;
        throw new StepError(`command ${program} of step ${name} could not start: ${error.code ?? error.message}`, {cause: error});
      });
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      if (code !== 0) {
        const last = tail.split('\n').pop() ?? '';
        const error = new StepError(`command ${program} exited with ${code ?? 'a signal'}${last ? `: ${last}` : ''}`, {retryable: code === EXIT_TEMPFAIL});
        Object.assign(error, {detail: tail});
        throw error;
      }
      const lastLine = stdout.trim().split('\n').pop() ?? '';
      let result: unknown;
      try {
        result = JSON.parse(lastLine);
      } catch {
        result = undefined;
      }
      if (!result || typeof result !== 'object' || Array.isArray(result)) {
        throw new StepError(`command ${program} printed no JSON object on its last line of output`);
      }
      return {...(result as Record<string, unknown>), command: [program, ...args]};
    },
  };
}
