/**
 * A TCP relay on 127.0.0.1 in front of a test peer (sshd), run inside the test process: the link
 * the engine talks over. It counts the bytes the peer sends back with their arrival times (to
 * measure the rate the link really carries), and can be cut (every connection reset, nothing
 * listening) and restored on the same port.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from './sshd.js';

export interface LinkProxy {
  port: number;
  /** Bytes from the peer towards the client, one entry per arrival: [ms since epoch, bytes]. */
  downstream: [number, number][];
  /** Resets every connection and stops listening. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startLinkProxy(targetPort: number): Promise<LinkProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const downstream: [number, number][] = [];
  let server: Server | null = null;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        track(client);
        track(upstream);
        client.setNoDelay(true);
        upstream.setNoDelay(true);
        upstream.on('data', (d: Buffer) => downstream.push([Date.now(), d.length]));
        client.pipe(upstream);
        upstream.pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
      server = srv;
    });
  const cut = async () => {
    const srv = server;
    server = null;
    for (const s of sockets) s.resetAndDestroy();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  };
  await listen();
  return { port, downstream, cut, restore: listen, close: cut };
}

/**
 * The rate the link carried in its steady part, in Mbps: from the end of the first burst that
 * starts at least `skipMs` after the first byte at or after `since`, to the end of the last burst.
 * A paced sender sends in bursts (a chunk, then a wait); measuring between burst ends keeps
 * whole bursts inside the window, so the figure is the pacing rate, not a window-edge artefact.
 * Continuous traffic is one long burst, measured the same way.
 */
export function steadyRateMbps(samples: readonly [number, number][], since: number, skipMs = 1000, gapMs = 150): { mbps: number; seconds: number; bursts: number } {
  const bursts: { start: number; end: number; bytes: number }[] = [];
  for (const [at, bytes] of samples) {
    if (at < since) continue;
    const last = bursts.at(-1);
    if (last && at - last.end <= gapMs) {
      last.end = at;
      last.bytes += bytes;
    } else bursts.push({ start: at, end: at, bytes });
  }
  // Small bursts are protocol chatter (keepalives, answers to calls), not data.
  const data = bursts.filter((b) => b.bytes >= 64 * 1024);
  if (data.length < 2) throw new Error(`too few data bursts to measure a rate (${data.length})`);
  const first = data.findIndex((b) => b.start - data[0]!.start >= skipMs);
  if (first < 0 || first === data.length - 1) throw new Error('the transfer was too short to have a steady part');
  const from = data[first]!.end;
  const to = data.at(-1)!.end;
  const bytes = samples.filter(([at]) => at > from && at <= to).reduce((n, [, b]) => n + b, 0);
  return { mbps: (bytes * 8) / ((to - from) / 1000) / 1e6, seconds: (to - from) / 1000, bursts: data.length - first };
}
