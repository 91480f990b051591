import type {ProcessEntry} from '../pipeline/index.js';

/** What a step listener did with one document (its `started`, `completed`, `retrying`, `failed` and `lost` events). */
export interface StepEvent {
  id: string;
  step: string;
  /** The entry recorded; not on `started` and `lost`. */
  entry: ProcessEntry;
}

/** One listener's part of a heartbeat document. */
export interface ListenerState {
  step: string;
  /** The feed position it reads from (opaque), null before it has one. */
  since: string | null;
  /** False while the database is unreachable. */
  reachable: boolean;
  /** Documents it holds a claim on and runs now. */
  running: number;
  queued: number;
  /** When it last recorded a result (ISO 8601), null if never. */
  last_progress: string | null;
}
