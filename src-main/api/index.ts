/**
 * The REST API as a Fastify plugin (it never listens: `cli.ts` and `electron/main.ts` do).
 * Order: validators and error handlers → OpenAPI → auth hook → routes under /hypermotion/v1 →
 * the built renderer at `/`.
 */
import { existsSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import fastifyStatic from '@fastify/static';
import type { FastifyRequest } from 'fastify';
import { ErrorBody } from '../../src-shared/api/common.js';
import { RehostError } from '../../src-shared/errors.js';
import type { Engine } from '../core/engine.js';
import type { App } from './context.js';
import { installErrorHandlers } from './errors.js';
import { installValidators } from './validation.js';
import usersRoutes from './routes/hypermotion/v1/users/index.js';
import targetRoutes from './routes/hypermotion/v1/targets/index.js';
import sourceRoutes from './routes/hypermotion/v1/sources/index.js';
import hostRoutes from './routes/hypermotion/v1/hosts/index.js';
import jobRoutes from './routes/hypermotion/v1/jobs/index.js';
import eventRoutes from './routes/hypermotion/v1/events/index.js';
import licenseRoutes from './routes/hypermotion/v1/licenses/index.js';

export const API_PREFIX = '/hypermotion/v1';

export interface ApiOptions {
  engine: Engine;
  version: string;
  /** Folder of the built renderer (served at `/`), when present. */
  rendererDir?: string;
}

/** Routes that answer without a token. */
const PUBLIC_ROUTES = new Set([`POST ${API_PREFIX}/users/token`, `GET ${API_PREFIX}/openapi.json`]);

function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-auth-token'];
  if (typeof header === 'string' && header !== '') return header;
  if (request.routeOptions.url === `${API_PREFIX}/events`) {
    const q = request.query as { token?: unknown };
    if (typeof q.token === 'string') return q.token;
  }
  return undefined;
}

export async function apiPlugin(app: App, options: ApiOptions): Promise<void> {
  const { engine } = options;
  installValidators(app);
  installErrorHandlers(app);
  app.addSchema(ErrorBody);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Rehost API',
        version: options.version,
        description: 'HyperMotion-compatible migration API (seed 000) with Rehost extensions: sources, resources, events, sync strategy, stop sync.',
      },
      components: { securitySchemes: { token: { type: 'apiKey', in: 'header', name: 'X-AUTH-TOKEN' } } },
      security: [{ token: [] }],
    },
  });

  await app.register(
    async (api: App) => {
      api.addHook('onRequest', async (request) => {
        const key = `${request.method} ${request.routeOptions.url ?? ''}`;
        if (PUBLIC_ROUTES.has(key) || request.routeOptions.url === undefined) return;
        const user = engine.auth.authenticate(tokenOf(request));
        if (user.mustChangePassword && key !== `PUT ${API_PREFIX}/users`) {
          throw new RehostError('PASSWORD_CHANGE_REQUIRED', 'this is the first login: change the generated password with PUT /hypermotion/v1/users first', {
            field: 'X-AUTH-TOKEN',
          });
        }
        request.user = user;
      });
      api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
      await api.register(usersRoutes, { engine });
      await api.register(targetRoutes, { engine });
      await api.register(sourceRoutes, { engine });
      await api.register(hostRoutes, { engine });
      await api.register(jobRoutes, { engine });
      await api.register(eventRoutes, { engine });
      await api.register(licenseRoutes, { engine });
    },
    { prefix: API_PREFIX },
  );

  if (options.rendererDir && existsSync(options.rendererDir)) {
    await app.register(fastifyStatic, { root: options.rendererDir, prefix: '/', index: ['index.html'] });
  }
}
