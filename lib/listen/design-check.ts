import {compileDesignDocs, DESIGN_DOCS_DIR, diffDesignDoc, type DesignDoc} from '../design/index.js';
import {EdwError} from '../errors/index.js';
import type {Store} from '../store/index.js';

/** Refuse to listen without edw's design document, or with an outdated one (the filter and views must match). */
export async function checkDesign(store: Store): Promise<void> {
  for (const wanted of await compileDesignDocs(DESIGN_DOCS_DIR)) {
    const current = (await store.get(wanted._id)) as DesignDoc | null;
    const change = diffDesignDoc(wanted, current);
    if (change.action === 'created') throw new EdwError(`design document ${wanted._id} is missing in ${store.location}: run 'edw init' or 'edw push-design'`);
    if (change.action === 'updated') throw new EdwError(`design document ${wanted._id} in ${store.location} is outdated (${[...change.changed, ...change.added, ...change.removed].join(', ')}): run 'edw push-design'`);
  }
}
