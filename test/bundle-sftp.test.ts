import {createHash, randomBytes} from 'node:crypto';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {ChecksumError, makeBundle, type RemoteAccess} from '../lib/bundle/index.js';
import {queryFromArgs, runQuery} from '../lib/query/index.js';
import type {Doc} from '../lib/store/index.js';
import {forEachBackend, tempFolder} from './helpers/backends.js';
import {startSshd, type Sshd} from './helpers/sshd.js';

let sshd: Sshd;
test.before('start sshd', async () => {
  sshd = await startSshd();
});
test.after.always('stop sshd', async () => {
  await sshd?.stop();
});

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

forEachBackend((backend) => {
  test(`${backend.name}: files a step pushed to another host are fetched over SFTP, verified, and a changed one stops the bundle`, async (t) => {
    const store = await backend.open(t);
    const remoteDir = await tempFolder(t);
    await mkdir(join(remoteDir, 'r1'));
    const docs: Doc[] = [];
    const data: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const bytes = randomBytes(50_000 + i);
      const path = join(remoteDir, 'r1', `f${i}.edwr`);
      await writeFile(path, bytes);
      data.push(bytes);
      // As move_to_sps with transport = sftp, direction = push records it: on the host it pushed to.
      docs.push({
        _id: `f${i}`, run: 'r1', status: 'good', md5sum: md5(bytes), bytes: bytes.length, original_file: `/daq/elsewhere/f${i}.edwr`, process: [{
          name: 'move_to_sps', status: 'done', version: '2', started: 'x', finished: 'y', host: 'daq1', attempt: 1,
          result: {outputs: [{path, bytes: bytes.length, md5: md5(bytes)}], transport: 'sftp', destination: {host: sshd.host, path}},
        }],
      });
    }
    await store.bulkWrite(docs);
    const {id} = await runQuery(store, queryFromArgs({run: ['r1']}));
    const remote: RemoteAccess = {host: sshd.host, options: {port: sshd.port, user: sshd.user, keyFile: sshd.userKeyFile, knownHostsFile: sshd.knownHostsFile}};
    const out = join(await tempFolder(t), 'b');
    const report = await makeBundle(store, id, {what: 'move_to_sps', out, remote});
    t.like(report, {files: 5, copied: 5});
    for (let i = 0; i < 5; i++) t.deepEqual(await readFile(join(out, 'r1', `f${i}.edwr`)), data[i]);
    // Raw files: the originals are not on this host, so the first step's copies are fetched.
    const raw = await makeBundle(store, id, {what: 'raw', out: join(out, '..', 'raw'), remote, firstStep: 'move_to_sps'});
    t.is(raw.files, 5);
    t.deepEqual(await readFile(join(out, '..', 'raw', 'r1', 'f3.edwr')), data[3]);
    // Without the transport configured for that host, it says where the file is.
    await t.throwsAsync(makeBundle(store, id, {what: 'move_to_sps', out: join(out, '..', 'none')}), {message: /is on 127\.0\.0\.1, and no step's transport = sftp is configured for that host/});
    const changed = Buffer.from(data[2]!);
    changed[7] = (changed[7]! + 1) % 256;
    await writeFile(join(remoteDir, 'r1', 'f2.edwr'), changed);
    const error = await t.throwsAsync(makeBundle(store, id, {what: 'move_to_sps', out: join(out, '..', 'second'), remote}), {instanceOf: ChecksumError});
    t.regex(error!.message, new RegExp(md5(data[2]!)));
    t.regex(error!.message, new RegExp(md5(changed)));
  });
});
