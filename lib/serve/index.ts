export {createApp, METRICS_PATH, OPENAPI_PATH, routesOf, type AppOptions} from './app.js';
export {startServer, type Server, type ServeOptions} from './server.js';
export {RateTracker, type Rates, type RateTrackerOptions} from './rates.js';
export type {ChainLink} from './context.js';
export {SESSION_COOKIE, type Access, type Identity} from './auth.js';
