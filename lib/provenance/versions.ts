import type {Store} from '../store/index.js';
import {PROVENANCE_DESIGN} from './marks.js';
import type {ChainEntry} from './reprocess.js';

/** Per step: the documents whose latest completion is of the configured version, and those done by others. */
export interface StepVersions {
  configured: string;
  current: number;
  /** Documents whose latest completion of the step is of another version, by version. */
  older: Record<string, number>;
}

/** `edw status --versions`: per step, how many documents are current and how many were done by another version (one grouped reduce). */
export async function versionCounts(store: Store, chain: ChainEntry[]): Promise<Record<string, StepVersions>> {
  const rows = (await store.query({design: PROVENANCE_DESIGN, view: 'versions', reduce: true, groupLevel: 2})).rows;
  const out: Record<string, StepVersions> = Object.fromEntries(chain.map((s) => [s.name, {configured: s.version, current: 0, older: {}}]));
  for (const row of rows) {
    const [step, version] = row.key as [string, string];
    const counts = out[step];
    if (!counts) continue;
    if (version === counts.configured) counts.current += Number(row.value);
    else counts.older[version] = (counts.older[version] ?? 0) + Number(row.value);
  }
  return out;
}
