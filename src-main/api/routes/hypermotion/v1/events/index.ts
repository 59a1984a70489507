/**
 * GET /events: Server-Sent Events for host, job, target, source, snapshot and progress changes.
 * EventSource cannot set headers, so the token may also come as `?token=`.
 */
import { Type } from '@sinclair/typebox';
import type { EngineEvent } from '../../../../../core/events.js';
import type { SyncProgress } from '../../../../../core/model.js';
import { detailData } from '../../../../mappers/hosts.js';
import type { App, RouteOptions } from '../../../../context.js';

const HEARTBEAT_MS = 15_000;

export default async function eventRoutes(app: App, { engine }: RouteOptions): Promise<void> {
  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Server-Sent Events stream (text/event-stream); events: host, job, target, source, snapshot, progress',
        querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 256 })) }, { additionalProperties: false }),
      },
    },
    (request, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      res.write(`retry: 2000\n: connected\n\n`);
      const send = (event: EngineEvent) => {
        const data = event.type === 'progress' ? progressData(event.data as unknown as SyncProgress) : event.data;
        res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify({ id: event.id, at: event.at, ...data })}\n\n`);
      };
      const unsubscribe = engine.core.events.subscribe(send);
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      const stop = () => {
        clearInterval(heartbeat);
        unsubscribe();
      };
      request.raw.on('close', stop);
      res.on('error', stop);
    },
  );
}

/** Progress on the wire: the seed's `detail_data` plus the raw figures, snake_case. */
function progressData(p: SyncProgress): Record<string, unknown> {
  return {
    total_bytes: p.totalBytes,
    done_bytes: p.doneBytes,
    bytes_per_second: Math.round(p.bytesPerSecond),
    remaining_seconds: Math.round(p.remainingSeconds),
    phase: p.phase,
    detail_data: detailData(p),
  };
}
