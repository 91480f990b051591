import {fileURLToPath} from 'node:url';
export {compileDesignDoc, compileDesignDocs, designFunctions, type DesignDoc} from './compile.js';
export {diffDesignDoc, pushDesignDocs, type DesignChange, type PushOptions} from './push.js';
export {designVersion} from './version.js';

/** The `design-docs/` folder that ships with edw (the same from sources and from `dist/`). */
export const DESIGN_DOCS_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../design-docs/' : '../../design-docs/', import.meta.url));

/** Name of edw's own design document. */
export const DESIGN = 'edw';
