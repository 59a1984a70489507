/**
 * The QEMU guest agent as a boot signal: QEMU exposes the guest's `org.qemu.guest_agent.0`
 * virtio-serial port as a unix socket; a guest running qemu-ga answers JSON commands there.
 * Until the agent runs, QEMU accepts the connection but nothing answers, so every probe is
 * bounded by a timeout. `guest-sync` with a fresh id first, because the channel may still hold
 * answers to an earlier probe; then `guest-ping`.
 */
import { randomInt } from 'node:crypto';
import { connect } from 'node:net';

/** True when the guest agent behind `socketPath` answers `guest-ping` within `timeoutMs`. */
export async function guestAgentPing(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ path: socketPath });
    const syncId = randomInt(1, 2 ** 31);
    let buffered = '';
    let synced = false;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
    socket.once('connect', () => socket.write(`${JSON.stringify({ execute: 'guest-sync', arguments: { id: syncId } })}\n`));
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      buffered += text;
      if (buffered.length > 64 * 1024) return finish(false);
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl).replace(/^\xff/, '').trim();
        buffered = buffered.slice(nl + 1);
        if (line === '') continue;
        let reply: { return?: unknown };
        try {
          reply = JSON.parse(line) as { return?: unknown };
        } catch {
          continue; // a partial answer left over from an earlier probe
        }
        if (!synced) {
          if (reply.return === syncId) {
            synced = true;
            socket.write(`${JSON.stringify({ execute: 'guest-ping' })}\n`);
          }
        } else if (reply.return !== undefined && typeof reply.return === 'object') {
          return finish(true);
        }
      }
    });
  });
}
