import test from 'ava';
import type {Doc} from '../lib/store/index.js';
import {edw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

const HOUR = 3600;
const T0 = Date.UTC(2025, 9, 1) / 1000; // 2025-10-01T00:00:00Z

/** 200 detections, one every 15 minutes from T0 (50 hours), over two runs and four sources, amplitudes 0..199. */
const DETECTIONS: Doc[] = Array.from({length: 200}, (_, i) => ({
  _id: `detection:s${i % 4}:${String(i).padStart(3, '0')}`, type: 'detection', time: T0 + i * 900, amplitude: i, channel: 'A',
  source: `s${i % 4}`, run: i % 2 ? 'r1' : 'r2',
}));

test('edw detections filters by run, source and amplitude range, takes named time ranges, and counts per hour or day', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  await store.bulkWrite(DETECTIONS);
  await store.close();
  const ids = async (...args: string[]): Promise<string[]> => {
    const run = await edw('--config', ws.configPath, 'detections', ...args, '--json');
    t.is(run.code, 0, run.err.join('\n'));
    return (JSON.parse(run.out.join('\n')) as Doc[]).map((d) => d._id);
  };
  const expect = (keep: (d: Doc, i: number) => boolean): string[] => DETECTIONS.filter(keep).map((d) => d._id);
  t.deepEqual(await ids(), expect(() => true));
  t.deepEqual(await ids('--run', 'r1', '--min-amplitude', '20', '--max-amplitude', '60'), expect((d) => d.run === 'r1' && Number(d.amplitude) >= 20 && Number(d.amplitude) <= 60));
  t.deepEqual(await ids('--source', 's2', '--source', 's3', '--to', String(T0 + 10 * HOUR)), expect((d) => ['s2', 's3'].includes(String(d.source)) && Number(d.time) <= T0 + 10 * HOUR));
  t.deepEqual(await ids('--month', '2025-09'), []);
  t.deepEqual(await ids('--month', '2025-10', '--tz', '+02:00'), expect((d) => Number(d.time) >= T0 - 2 * HOUR));
  t.deepEqual(await ids('--week', '2025-W40'), expect((d) => Number(d.time) < Date.UTC(2025, 9, 6) / 1000));
  // Named ranges end before the next one starts: a detection at 2025-10-02T00:00Z is not of October 1.
  t.deepEqual(await ids('--from', '2025-10-01', '--to', '2025-10-02'), expect((d) => Number(d.time) <= T0 + 24 * HOUR));
  const day = await edw('--config', ws.configPath, 'detections', '--rate', 'day');
  t.deepEqual(day.out, ['2025-10-01T00:00:00.000Z  96', '2025-10-02T00:00:00.000Z  96', '2025-10-03T00:00:00.000Z  8']);
  t.deepEqual(day.err, ['3 days']);
  const zoned = await edw('--config', ws.configPath, 'detections', '--rate', 'day', '--tz', 'America/New_York', '--json');
  t.deepEqual(JSON.parse(zoned.out.join('\n')), [
    {start: '2025-09-30T04:00:00.000Z', count: 16}, {start: '2025-10-01T04:00:00.000Z', count: 96}, {start: '2025-10-02T04:00:00.000Z', count: 88},
  ]);
  const hours = await edw('--config', ws.configPath, 'detections', '--rate', 'hour', '--run', 'r2', '--from', String(T0), '--to', String(T0 + 2 * HOUR));
  t.deepEqual(hours.out, ['2025-10-01T00:00:00.000Z  2', '2025-10-01T01:00:00.000Z  2', '2025-10-01T02:00:00.000Z  1']);
});
