import type {ProcessEntry} from './document.js';

/**
 * The completion of record.
 *
 * On a CouchDB cluster a revision check is not linearizable: while a node is down two listeners can
 * both complete the same step of a document on different copies, and after the conflict is merged the
 * document holds two completed entries of one step and version. Both stay in the history (steps run at
 * least once; a re-execution is provenance too), and exactly one is the *completion of record*; every
 * other one carries an added field naming it:
 *
 * ```json
 * "superseded": {"by": {"finished": "…", "started": "…", "host": "…", "attempt": 1, "token": 7}}
 * ```
 *
 * `by` copies those fields of the record that it has (`token` only on entries written since edw
 * recorded it). The mark is the only change ever made to an entry once written, it is never removed or
 * changed (validate_doc_update allows exactly adding it), and its content depends on the entries
 * alone, so two processes marking the same entry write the same mark.
 *
 * The rule, the same on every node and in every process: among the unmarked completed entries (status
 * `done`, with a `version`) of one step name and version, the record is the one that finished first;
 * ties are broken by `started`, then `host`, then the claim `token`, then `attempt`, then the entry's
 * canonical JSON (keys sorted, the mark left out): a total order on distinct entries. An entry already
 * marked stays marked as it is; if a later merge brings an earlier completion, the former record is
 * marked by the new one (a chain), so exactly one unmarked completion per step and version remains.
 * Entries in the seed's shape (no status, no version) are never candidates.
 */

/** What a superseded entry records about the completion of record that supersedes it. */
export interface SupersededMark {
  by: {finished?: string; started?: string; host?: string; attempt?: number; token?: number};
}

/** Whether an entry is marked as superseded by another completion of its step and version. */
export function isSuperseded(entry: ProcessEntry): boolean {
  return !!entry.superseded;
}

/** Whether an entry takes part in the choice of a completion of record: edw's completed entries with a version. */
function isCandidate(entry: ProcessEntry): boolean {
  return !!entry && entry.status === 'done' && typeof entry.name === 'string' && typeof entry.version === 'string';
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** An entry without its superseded mark: what identifies it as the attempt it records. */
export function withoutMark(entry: ProcessEntry): ProcessEntry {
  if (!Object.hasOwn(entry, 'superseded')) return entry;
  const {superseded: _mark, ...rest} = entry;
  return rest as ProcessEntry;
}

/** Code-unit order (not the locale's, which may differ between machines); absent values last. */
function compareText(a: unknown, b: unknown): number {
  const x = typeof a === 'string' ? a : undefined;
  const y = typeof b === 'string' ? b : undefined;
  if (x === y) return 0;
  if (x === undefined) return 1;
  if (y === undefined) return -1;
  return x < y ? -1 : 1;
}

function compareNumber(a: unknown, b: unknown): number {
  const x = typeof a === 'number' && Number.isFinite(a) ? a : Infinity;
  const y = typeof b === 'number' && Number.isFinite(b) ? b : Infinity;
  return x === y ? 0 : x < y ? -1 : 1;
}

/**
 * The order of completions of one step and version, first the one of record: earliest `finished`,
 * then `started`, `host`, claim `token`, `attempt`, canonical JSON (mark left out). 0 only for entries
 * equal but for their marks.
 */
export function compareCompletions(a: ProcessEntry, b: ProcessEntry): number {
  return compareText(a.finished, b.finished) || compareText(a.started, b.started) || compareText(a.host, b.host)
    || compareNumber(a.token, b.token) || compareNumber(a.attempt, b.attempt)
    || compareText(canonicalJson(withoutMark(a)), canonicalJson(withoutMark(b)));
}

/** The mark naming `record` as the completion of record. */
export function supersededBy(record: ProcessEntry): SupersededMark {
  const by: SupersededMark['by'] = {};
  if (typeof record.finished === 'string') by.finished = record.finished;
  if (typeof record.started === 'string') by.started = record.started;
  if (typeof record.host === 'string') by.host = record.host;
  if (typeof record.attempt === 'number') by.attempt = record.attempt;
  if (typeof record.token === 'number') by.token = record.token;
  return {by};
}

// Completions of one step and version in different epochs (a reprocessing at the same version) are
// different runs asked for, not re-executions of one: each epoch has its own completion of record.
const epochKey = (entry: ProcessEntry): string => (typeof entry.epoch === 'number' && entry.epoch > 0 ? `\u0000${entry.epoch}` : '');
const groupKey = (entry: ProcessEntry): string => `${entry.name}\u0000${entry.version}${epochKey(entry)}`;

/** Index in `process` of the completion of record of each step and version that has an unmarked completion. */
function recordIndexes(process: readonly ProcessEntry[]): Map<string, {record: number; others: number[]}> {
  const groups = new Map<string, {record: number; others: number[]}>();
  process.forEach((entry, index) => {
    if (!isCandidate(entry) || isSuperseded(entry)) return;
    const key = groupKey(entry);
    const group = groups.get(key);
    if (!group) groups.set(key, {record: index, others: []});
    // Equal entries (the same attempt recorded twice in one revision): the first one is the record.
    else if (compareCompletions(entry, process[group.record]!) < 0) {
      group.others.push(group.record);
      group.record = index;
    } else group.others.push(index);
  });
  return groups;
}

/** The completion of record of a step and version in `process`, if it holds a completion of it. */
export function recordOf(process: readonly ProcessEntry[], name: string, version: string, epoch = 0): ProcessEntry | undefined {
  const group = recordIndexes(process).get(groupKey({name, version, epoch}));
  return group ? process[group.record] : undefined;
}

/**
 * The index in `process` of the entry that a superseded entry's mark names (same step and version,
 * and the fields of its `by`), -1 when it is not there or `entry` carries no mark. For display: the
 * rule itself never needs it.
 */
export function supersedingIndex(process: readonly ProcessEntry[], entry: ProcessEntry): number {
  const by = entry.superseded?.by;
  if (!by || typeof by !== 'object') return -1;
  return process.findIndex((e) => e !== entry && isCandidate(e) && groupKey(e) === groupKey(entry)
    && Object.entries(by).every(([field, value]) => e[field] === value));
}

/**
 * `process` with every unmarked completion that is not its step and version's completion of record
 * marked as superseded by it; nothing else changes (marked entries keep their marks, order is kept).
 * Returns the same array when there is nothing to mark. Idempotent.
 */
export function markSuperseded(process: ProcessEntry[]): ProcessEntry[] {
  let marked: ProcessEntry[] | undefined;
  for (const {record, others} of recordIndexes(process).values()) {
    if (others.length === 0) continue;
    marked ??= [...process];
    const mark = supersededBy(process[record]!);
    for (const index of others) marked[index] = {...process[index]!, superseded: mark};
  }
  return marked ?? process;
}
