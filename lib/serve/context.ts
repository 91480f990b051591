import type {StatusCounts} from '../inspect/index.js';
import type {Store} from '../store/index.js';
import type {Rates, RateTracker} from './rates.js';

/** What `GET /api/v1/status` answers and the `status` events carry. */
export type StatusWithRates = StatusCounts & {rates: Rates};

/** A step of the chain as the routes need it: its name and the stage it follows. */
export interface ChainLink {
  name: string;
  after: string;
}

/** What every route works with. */
export interface RouteContext {
  store: Store;
  /** The chain, in order. */
  chain: readonly ChainLink[];
  /** The chain's step names, in order. */
  steps: readonly string[];
  rates: RateTracker;
  /** Listeners stopped or silent for longer than this are left out of `/listeners`. */
  forgetAfterMs: number;
  /** The clock (epoch ms). */
  now: () => number;
  /** Changes a status reading reads past the kept counts at most (see AppOptions.statusMaxChanges). */
  statusMaxChanges: number;
  /** A status reading: requests that arrive while one is under way share it (see `sharedReading`). */
  status: () => Promise<StatusWithRates>;
}
