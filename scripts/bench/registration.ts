/**
 * Registration docs/s through lib/register (edw register's own code): a directory of small files,
 * listed, stat'ed, hashed (or not), checked against what is registered and written in `_bulk_docs`
 * batches of the default size, on a database with edw's design documents (as after `edw init`).
 */
import {createHash} from 'node:crypto';
import {registerFiles} from '../../lib/register/index.js';
import type {Store} from '../../lib/store/index.js';
import {now, perSecond} from './stats.js';

export interface RegistrationFigure {
  docsPerSecond: number;
  created: number;
}

/**
 * Register every file of `dir`. With `hash: false` the md5 is given (a hash of the path, no file is
 * read), so the figure is registration without hashing.
 */
export async function measureRegistration(store: Store, dir: string, expected: number, hash: boolean): Promise<RegistrationFigure> {
  const start = now();
  const report = await registerFiles({
    store, paths: [dir], settleMs: 0,
    ...(hash ? {} : {hashFile: async (path: string) => createHash('md5').update(path).digest('hex')}),
  });
  const ms = now() - start;
  if (report.created.length !== expected) {
    const why = report.refused[0]?.reason ?? report.missing[0]?.reason ?? 'no reason given';
    throw new Error(`registration created ${report.created.length} of ${expected} documents (${why})`);
  }
  return {docsPerSecond: perSecond(report.created.length, ms), created: report.created.length};
}
