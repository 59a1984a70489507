/** Seed §4.2 and §4.8.1: targets, plus `GET /targets/:id/resources` (seed 001 ListFlavors …). */
import { Type } from '@sinclair/typebox';
import { Ack, ErrorResponses, Uuid } from '../../../../../../src-shared/api/common.js';
import {
  CreateTargetBody,
  ResourceQuery,
  ResourceReply,
  TargetConfigSchemas,
  TargetDeleteQuery,
  TargetDetailReply,
  TargetListQuery,
  TargetListReply,
  TargetTypesReply,
} from '../../../../../../src-shared/api/targets.js';
import { CLOUD_TYPES, type CloudType } from '../../../../../../src-shared/states.js';
import type { App, RouteOptions } from '../../../../context.js';
import { checkConfig } from '../../../../config-check.js';
import { storageItem, targetDetail, targetListItem } from '../../../../mappers/targets.js';

const IdParams = Type.Object({ id: Uuid });

export default async function targetRoutes(app: App, { engine }: RouteOptions): Promise<void> {
  app.get('/targets/types', { schema: { tags: ['targets'], summary: 'Target platform types', response: { 200: TargetTypesReply, ...ErrorResponses } } }, async () => ({
    target_types: CLOUD_TYPES.filter((t) => engine.core.pool.hasTargetType(t)).map((t) => ({ display_name: t, query_name: t })),
  }));

  app.post(
    '/targets',
    { schema: { tags: ['targets'], summary: 'Add a target platform', body: CreateTargetBody, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => {
      const cloudType = request.body.config.cloud_type as CloudType;
      const config = checkConfig(TargetConfigSchemas[cloudType], request.body.config);
      const target = await engine.targets.create({ type: 'HyperGate', cloudType, config, ...(request.body.name ? { name: request.body.name } : {}) });
      return { code: 200, message: `Successfully create target: ${target.name}`, data: { uuid: target.id, target_display_name: target.name } };
    },
  );

  app.get(
    '/targets',
    { schema: { tags: ['targets'], summary: 'List targets (data) and assignable storages (storages)', querystring: TargetListQuery, response: { 200: TargetListReply, ...ErrorResponses } } },
    async (request) => {
      const targets = engine.targets.list(request.query.cloud_type);
      const assignable = targets.filter((t) => t.status === 'active' || t.status === 'available');
      return {
        targets: {
          data: targets.map((t) => targetListItem(engine, t)),
          storages: assignable.map((t) => storageItem(engine, t)),
        },
      };
    },
  );

  app.get(
    '/targets/:id',
    { schema: { tags: ['targets'], summary: 'Target storage, pools, volume groups and volumes', params: IdParams, response: { 200: TargetDetailReply, ...ErrorResponses } } },
    async (request) => {
      const target = engine.targets.get(request.params.id);
      await engine.targets.refresh(target.id, AbortSignal.timeout(15_000));
      return targetDetail(engine, engine.targets.get(target.id));
    },
  );

  app.get(
    '/targets/:id/resources',
    { schema: { tags: ['targets'], summary: 'Flavors, networks, … the target offers', params: IdParams, querystring: ResourceQuery, response: { 200: ResourceReply, ...ErrorResponses } } },
    async (request) => ({
      kind: request.query.kind,
      data: await engine.targets.resources(request.params.id, request.query.kind, AbortSignal.timeout(60_000)),
    }),
  );

  app.delete(
    '/targets/:id',
    { schema: { tags: ['targets'], summary: 'Remove a target connection', params: IdParams, querystring: TargetDeleteQuery, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => {
      await engine.targets.remove(request.params.id, request.query.force === true);
      return { code: 200, data: null, message: `Success delete targets connection: ${request.params.id}` };
    },
  );
}
