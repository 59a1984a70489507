/** What route modules receive: the engine, and the typed Fastify instance they register on. */
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Engine } from '../core/engine.js';

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface RouteOptions {
  engine: Engine;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user, set by the auth hook. */
    user?: { username: string; mustChangePassword: boolean };
  }
}
