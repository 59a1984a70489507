/** Seed §4.3–§4.8: register, sync / clean / next step, boot, lists, detail, platform, strategy. */
import { Type, type Static } from '@sinclair/typebox';
import type { Engine } from '../../../../../core/engine.js';
import type { SyncStrategy } from '../../../../../core/model.js';
import { Ack, ErrorResponses, Uuid } from '../../../../../../src-shared/api/common.js';
import {
  AssignBody,
  BootBody,
  HostBaseReply,
  HostDetailQuery,
  HostListQuery,
  HostListReply,
  HostSnapshotReply,
  HostStorageReply,
  HostsActionBody,
  RegisterBody,
  SyncStrategyBody,
} from '../../../../../../src-shared/api/hosts.js';
import { errors } from '../../../../../../src-shared/errors.js';
import { HOST_LIST_STEP } from '../../../../../../src-shared/states.js';
import type { App, RouteOptions } from '../../../../context.js';
import { hostBase, hostItem, hostSnapshots, hostStorage } from '../../../../mappers/hosts.js';

const IdParams = Type.Object({ id: Uuid });
const csv = (value: string | undefined) => value?.split(',').map((s) => s.trim()).filter(Boolean);

async function actionRoutes(app: App, engine: Engine): Promise<void> {
  app.post(
    '/hosts/register',
    { schema: { tags: ['hosts'], summary: 'Register hosts from a source', body: RegisterBody, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => ({ code: 200, data: await engine.hosts.register(request.body.ids), message: 'Success register hosts' }),
  );

  app.post(
    '/hosts',
    { schema: { tags: ['hosts'], summary: 'Sync, clean, next step or stop sync (exactly one per request)', body: HostsActionBody, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => hostsAction(engine, request.body),
  );

  app.post(
    '/hosts/:id/action',
    { schema: { tags: ['hosts'], summary: 'Boot the host on its target (test or cutover)', params: IdParams, body: BootBody, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => {
      const { backup_type, snapshot_id, project_name, ...options } = request.body.boot;
      // project_name also goes to the driver: it picks the project the machine boots in
      const driverOptions = project_name === undefined ? options : { ...options, project_name };
      await engine.lifecycle.boot(request.params.id, { backupType: backup_type, snapshotId: snapshot_id, projectName: project_name ?? null, options: driverOptions });
      return { code: 200, message: 'Start booting host' };
    },
  );

}

async function queryRoutes(app: App, engine: Engine): Promise<void> {
  app.get(
    '/hosts',
    { schema: { tags: ['hosts'], summary: 'List hosts (all, or the register / sync / boot step)', querystring: HostListQuery, response: { 200: HostListReply, ...ErrorResponses } } },
    async (request) => {
      const q = request.query;
      const page = q.page ?? 1;
      const pageSize = q.page_size ?? 10;
      const result = engine.hosts.query({
        ...(q.status ? { step: HOST_LIST_STEP[q.status] } : {}),
        ...(q.target_platform ? { targetCloudType: q.target_platform } : {}),
        ...(q.ids ? { ids: csv(q.ids)! } : {}),
        ...(q.macs ? { macs: csv(q.macs)! } : {}),
        ...(q.kw ? { keyword: q.kw } : {}),
        page,
        pageSize,
      });
      return { page_size: pageSize, total: result.total, data: result.items.map((h) => hostItem(engine, h)) };
    },
  );

  app.get(
    '/hosts/:id',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Host detail: base, storage or snapshot sheet',
        params: IdParams,
        querystring: HostDetailQuery,
        response: { 200: Type.Union([HostBaseReply, HostStorageReply, HostSnapshotReply]), ...ErrorResponses },
      },
    },
    async (request) => {
      const host = engine.hosts.get(request.params.id);
      switch (request.query.sheet) {
        case 'base':
          return hostBase(host);
        case 'storage':
          return hostStorage(engine, host);
        case 'snapshot':
          return hostSnapshots(engine, host, request.query.page ?? 1, request.query.page_size ?? 10);
      }
    },
  );

}

async function consoleRoutes(app: App, engine: Engine): Promise<void> {
  app.get(
    '/hosts/:id/console',
    {
      schema: {
        tags: ['hosts'],
        summary: "The last 256 KiB of the booted machine's serial console (text)",
        params: IdParams,
        produces: ['text/plain'],
        response: { 200: Type.String(), ...ErrorResponses },
      },
    },
    async (request, reply) => {
      const text = await engine.lifecycle.console(request.params.id);
      if (text === null) throw errors.notFound('console of host', request.params.id, 'id');
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );
}

async function settingRoutes(app: App, engine: Engine): Promise<void> {
  app.put(
    '/hosts/target_platform',
    { schema: { tags: ['hosts'], summary: 'Assign hosts to a target platform (step 2)', body: AssignBody, response: { 200: Ack, ...ErrorResponses } } },
    async (request) => {
      await engine.hosts.assignPlatform(request.body.ids, request.body.storage_id, request.body.pool_id);
      return { code: 200, message: 'Successful assign host on platform' };
    },
  );

  app.put(
    '/hosts/:id/sync_strategy',
    { schema: { tags: ['hosts'], summary: 'Set the sync schedule, snapshot quota and speed limit', params: IdParams, body: SyncStrategyBody, response: { 200: HostSnapshotReply, ...ErrorResponses } } },
    async (request) => {
      const b = request.body;
      if (typeof b.transfer_speed === 'number' && b.transfer_speed > 0 && b.transfer_speed < 1) {
        throw errors.validation('transfer_speed', 'must be 0 (unlimited) or at least 1 Mbps');
      }
      const host = await engine.hosts.setSyncStrategy(request.params.id, strategyPatch(b));
      // A lowered quota prunes now, so the answer lists what is kept.
      if (b.snapshot_quota !== undefined) await engine.quota.changed(host.id);
      return hostSnapshots(engine, host, 1, 10);
    },
  );
}

export default async function hostRoutes(app: App, { engine }: RouteOptions): Promise<void> {
  await actionRoutes(app, engine);
  await queryRoutes(app, engine);
  await consoleRoutes(app, engine);
  await settingRoutes(app, engine);
}

/** POST /hosts: exactly one of sync, clean, next_step or stop_sync. */
async function hostsAction(engine: Engine, body: Static<typeof HostsActionBody>) {
  const { ids, sync, clean, next_step, stop_sync } = body;
  const given = [sync && 'sync', clean && 'clean', next_step && 'next_step', stop_sync && 'stop_sync'].filter(Boolean);
  if (given.length !== 1) {
    throw errors.validation('body', given.length === 0 ? 'one of sync, clean, next_step or stop_sync is required' : `only one of ${given.join(', ')} may be given`);
  }
  if (sync) {
    const speed = sync.transfer_speed;
    if (typeof speed === 'number' && speed > 0 && speed < 1) throw errors.validation('sync.transfer_speed', 'must be 0 (unlimited) or at least 1 Mbps');
    await engine.sync.start(ids, { doSnapshot: sync.do_snapshot, mode: sync.sync_mode, transferSpeed: speed ?? null });
    return { code: 200, message: 'Start synchronization of host resources' };
  }
  if (clean) {
    await engine.lifecycle.clean(ids, clean.force === true);
    return { code: 200, message: 'Start delete of host resources' };
  }
  if (next_step) {
    await engine.hosts.nextStep(ids);
    return { code: 200, message: 'Can start the migration' };
  }
  await engine.sync.stop(ids);
  return { code: 200, message: 'Stop synchronization of host resources' };
}

/** The seed's snake_case strategy fields → the domain's; transfer_speed 0 means unlimited (null). */
function strategyPatch(b: Static<typeof SyncStrategyBody>): Partial<SyncStrategy> & { transferSpeed?: number | null } {
  return {
    ...(b.do_snapshot !== undefined ? { doSnapshot: b.do_snapshot } : {}),
    ...(b.snapshot_auto_trigger !== undefined ? { autoTrigger: b.snapshot_auto_trigger } : {}),
    ...(b.snapshot_interval !== undefined ? { interval: b.snapshot_interval } : {}),
    ...(b.snapshot_interval_unit !== undefined ? { intervalUnit: b.snapshot_interval_unit } : {}),
    ...(b.snapshot_quota !== undefined ? { quota: b.snapshot_quota } : {}),
    ...(b.snapshot_start_time !== undefined ? { startTime: b.snapshot_start_time === null ? null : Date.parse(b.snapshot_start_time) } : {}),
    ...(b.transfer_speed !== undefined ? { transferSpeed: b.transfer_speed === 0 ? null : b.transfer_speed } : {}),
  };
}
