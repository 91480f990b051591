export {Registry} from 'prom-client';
export {registerDatabaseMetrics, type DatabaseMetricsOptions} from './database-metrics.js';
export {feedLag, LAG_CAP} from './feed-lag.js';
export {registerHttpMetrics, type HttpMetrics} from './http-metrics.js';
export {registerListenerMetrics} from './listener-metrics.js';
export {startMetricsServer, type MetricsServer} from './server.js';
