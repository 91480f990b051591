import {createHash} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {stat} from 'node:fs/promises';

/** Size and md5 of a file, read as a stream (constant memory). Null when the file does not exist. */
export async function fileDigest(path: string, signal?: AbortSignal): Promise<{bytes: number; md5: string} | null> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (!info) return null;
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path, {signal})) hash.update(chunk as Buffer);
  return {bytes: info.size, md5: hash.digest('hex')};
}
