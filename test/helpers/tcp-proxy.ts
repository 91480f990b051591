/**
 * A TCP forwarder on a free loopback port, in front of a server (the sshd fixture), that can hold a
 * connection still after a given number of bytes: a transfer then stops mid-file, for as long as the
 * test wants, at a point set by bytes rather than by timing.
 *
 * ```ts
 * const proxy = await startTcpProxy(sshd.port);
 * t.teardown(() => proxy.close());
 * const held = proxy.holdAfter('up', 4 << 20); // the next 4 MB the client sends, then nothing
 * // ... start a push to 127.0.0.1:proxy.port
 * await held;
 * proxy.release();
 * ```
 *
 * When either side closes, the other is closed too, so a server process killed behind the proxy is a
 * dropped connection for the client.
 */
import {connect, createServer, type AddressInfo, type Socket} from 'node:net';

export type Direction = 'up' | 'down';

export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /**
   * Stop reading from the sending side of the first connection whose bytes in `direction` (`up`:
   * client to server, `down`: server to client) reach `bytes`, counted from its start. Resolves
   * when that happens. One hold at a time; later connections are not held.
   */
  holdAfter(direction: Direction, bytes: number): Promise<void>;
  /** Let held connections go on. */
  release(): void;
  /** Close every connection and stop listening. */
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const held = new Set<Socket>();
  let hold: {direction: Direction; bytes: number; reached: () => void} | undefined;
  let accepted = 0;

  const forward = (from: Socket, to: Socket, direction: Direction): void => {
    let bytes = 0;
    from.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const flowing = to.write(chunk);
      if (hold && hold.direction === direction && bytes >= hold.bytes) {
        const reached = hold.reached;
        hold = undefined;
        held.add(from);
        from.pause();
        reached();
        return;
      }
      if (!flowing) {
        from.pause();
        to.once('drain', () => {
          if (!held.has(from)) from.resume();
        });
      }
    });
  };

  const server = createServer((client) => {
    accepted++;
    const upstream = connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        held.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    forward(client, upstream, 'up');
    forward(upstream, client, 'down');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });

  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    holdAfter(direction, bytes) {
      if (hold) throw new Error('tcp proxy: a hold is already set');
      return new Promise<void>((resolve) => {
        hold = {direction, bytes, reached: resolve};
      });
    },
    release() {
      for (const socket of held) socket.resume();
      held.clear();
    },
    async close() {
      hold = undefined;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
