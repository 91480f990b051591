import {Counter, Histogram, type Registry} from 'prom-client';

/** Counts requests and measures their latency, per route pattern (never the URL as asked: ids and queries stay out). */
export interface HttpMetrics {
  observe(request: {method: string; route: string; status: number; seconds: number}): void;
}

export function registerHttpMetrics(registry: Registry): HttpMetrics {
  const requests = new Counter({name: 'edw_http_requests_total', help: 'HTTP requests answered, per method, route and status', labelNames: ['method', 'route', 'status'], registers: [registry]});
  const latency = new Histogram({
    name: 'edw_http_request_duration_seconds', help: 'Time to answer an HTTP request, per method and route', labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  });
  return {
    observe({method, route, status, seconds}) {
      requests.inc({method, route, status: String(status)});
      latency.observe({method, route}, seconds);
    },
  };
}
