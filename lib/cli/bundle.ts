import {Command} from 'commander';
import {makeBundle, type RemoteAccess} from '../bundle/index.js';
import type {Config} from '../config/index.js';
import {ConfigError} from '../errors/index.js';
import {sftpSettings} from '../../listeners/index.js';
import {globals, type CliState} from './command.js';
import {readConfig, withStore} from './context.js';
import {progressLine} from './progress.js';

/** The SFTP settings of the step whose transport reaches another host, if one is configured. */
function remoteAccess(config: Config): RemoteAccess | undefined {
  const step = config.steps.find((s) => s.settings.transport === 'sftp');
  if (!step) return undefined;
  const {direction: _direction, idleMs: _idle, progressMs: _progress, connections, host, ...options} = sftpSettings(step.name, step.settings);
  return {host, connections, options};
}

const megabytes = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

export function bundleCommand(state: CliState): Command {
  return new Command('bundle')
    .description('copy the files of a query\'s answer into a folder, each verified against its recorded md5, with manifest.json and one archive')
    .argument('<qid>', 'the query id (edw query prints it)')
    .requiredOption('--what <what>', 'raw, or a step: what it produced')
    .requiredOption('--out <dir>', 'the bundle\'s folder')
    .option('--gzip', 'write DIR.tar.gz rather than DIR.tar')
    .option('--archive <path>', 'the archive\'s path (default: DIR.tar, or DIR.tar.gz with --gzip)')
    .action(async (qid: string, options: {what: string; out: string; gzip?: boolean; archive?: string}, command: Command) => {
      const {io} = state;
      const config = readConfig(globals(command), io);
      const steps = config.steps.map((s) => s.name);
      if (options.what !== 'raw' && !steps.includes(options.what)) throw new ConfigError(`--what ${options.what}: expected raw or a step (${steps.join(', ')})`);
      const remote = remoteAccess(config);
      const progress = progressLine(io);
      const report = await withStore(config, (store) => makeBundle(store, qid, {
        what: options.what, out: options.out, archive: options.archive, gzip: options.gzip, firstStep: steps[0], remote,
        onProgress: ({files, total, bytes}) => progress.update(`bundle: ${files}/${total} files, ${megabytes(bytes)}`),
      }));
      progress.done();
      io.out(`bundle ${report.dir}: ${report.files} files (${report.copied} copied, ${report.kept} kept from an earlier run), ${megabytes(report.bytes)}, each verified against its recorded md5`);
      io.out(`manifest ${report.dir}/manifest.json (md5 ${report.manifestMd5})`);
      io.out(`archive ${report.archive}`);
    });
}
