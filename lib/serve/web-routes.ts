import {createReadStream} from 'node:fs';
import {createRequire} from 'node:module';
import {fileURLToPath} from 'node:url';
import type {FastifyInstance} from 'fastify';

/** The web page's own files (`web/` at the package's root, from sources and from `dist/`). */
export const WEB_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../web/' : '../../web/', import.meta.url));

/** ECharts' browser build, served from its npm package (no build step, no CDN). */
const ECHARTS_FILE = createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js');

const FILES: Record<string, {file: string; type: string}> = {
  '/': {file: `${WEB_DIR}index.html`, type: 'text/html; charset=utf-8'},
  '/app.js': {file: `${WEB_DIR}app.js`, type: 'text/javascript; charset=utf-8'},
  '/style.css': {file: `${WEB_DIR}style.css`, type: 'text/css; charset=utf-8'},
  '/vendor/echarts.min.js': {file: ECHARTS_FILE, type: 'text/javascript; charset=utf-8'},
};

/**
 * The web page at `/` and what it loads. Public: the page holds no data; it asks the API, which
 * decides who may read, and offers a login where one is needed.
 */
export function webRoutes(app: FastifyInstance): void {
  for (const [path, {file, type}] of Object.entries(FILES)) {
    app.get(path, {config: {access: 'public'}, schema: {hide: true}}, (_request, reply) => {
      reply.header('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
      return reply.type(type).send(createReadStream(file));
    });
  }
}
