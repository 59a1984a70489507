/** Source platforms: an extension the seed implies (§3.1 "Sources"), same conventions. */
import { Type } from '@sinclair/typebox';
import { Ack, ErrorResponses, Uuid } from '../../../../../../src-shared/api/common.js';
import { CreateSourceBody, CreateSourceReply, SourceConfigSchemas, SourceDetailReply, SourceHostsReply, SourceListReply, UpdateSourceBody } from '../../../../../../src-shared/api/sources.js';
import type { App, RouteOptions } from '../../../../context.js';
import { checkConfig } from '../../../../config-check.js';
import { discoveredItem, sourceItem } from '../../../../mappers/sources.js';

const IdParams = Type.Object({ id: Uuid });

export default async function sourceRoutes(app: App, { engine }: RouteOptions): Promise<void> {
  app.post(
    '/sources',
    { schema: { tags: ['sources'], summary: 'Add a source platform (VMware, Agent, Image)', body: CreateSourceBody, response: { 200: CreateSourceReply, ...ErrorResponses } } },
    async (request) => {
      const { type, name } = request.body;
      const config = checkConfig(SourceConfigSchemas[type], request.body.config);
      const source = await engine.sources.create({ type, name, config });
      const job = engine.core.store.jobs.query({ ownerId: source.id, page: 1, pageSize: 1 }).items[0];
      return { code: 200, message: `Successfully create source: ${source.name}`, data: { id: source.id, job_id: job?.id ?? '' } };
    },
  );

  app.get('/sources', { schema: { tags: ['sources'], summary: 'List source platforms', response: { 200: SourceListReply, ...ErrorResponses } } }, async () => ({
    sources: { data: engine.sources.list().map((s) => sourceItem(engine, s)) },
  }));

  app.get(
    '/sources/:id',
    { schema: { tags: ['sources'], summary: 'A source with its inventory tree', params: IdParams, response: { 200: SourceDetailReply, ...ErrorResponses } } },
    async (request) => {
      const source = engine.sources.get(request.params.id);
      return { source: sourceItem(engine, source), tree: source.tree ?? null, hosts: engine.sources.hosts(source.id).map((h) => discoveredItem(engine, h)) };
    },
  );

  app.get(
    '/sources/:id/hosts',
    { schema: { tags: ['sources'], summary: 'Machines of a source, registrable by id', params: IdParams, response: { 200: SourceHostsReply, ...ErrorResponses } } },
    async (request) => {
      const hosts = engine.sources.hosts(request.params.id);
      return { total: hosts.length, data: hosts.map((h) => discoveredItem(engine, h)) };
    },
  );

  app.put(
    '/sources/:id',
    { schema: { tags: ['sources'], summary: 'Accept a new host identity (config.host_key or config.thumbprint) and refresh', params: IdParams, body: UpdateSourceBody, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => {
      const [field, value] = Object.entries(request.body.config)[0] as [string, string];
      const jobId = await engine.sources.acceptIdentity(request.params.id, field, value);
      return { code: 200, message: `Pinned config.${field} ${value}; refreshing the source`, data: { job_id: jobId } };
    },
  );

  app.post(
    '/sources/:id/refresh',
    { schema: { tags: ['sources'], summary: 'Discover the source inventory again', params: IdParams, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => {
      const jobId = await engine.sources.refresh(request.params.id);
      return { code: 200, message: 'Start refreshing source inventory', data: { job_id: jobId } };
    },
  );

  app.delete(
    '/sources/:id',
    { schema: { tags: ['sources'], summary: 'Remove a source platform and its stored credentials', params: IdParams, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => {
      await engine.sources.remove(request.params.id);
      return { code: 200, data: null, message: `Success delete source: ${request.params.id}` };
    },
  );
}
