import {openStore, type Store} from '../../lib/store/index.js';

/** Open an embedded database in this process without sharing it, as any other program holding the folder would. */
export async function holdEmbedded(folder: string): Promise<Store> {
  return openStore({url: folder});
}
