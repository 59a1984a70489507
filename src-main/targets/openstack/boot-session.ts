/**
 * Which project a machine boots in, and as whom. By default: the configured project with the
 * configured client. A custom project (seed: project_name, project_domain_id, user_name,
 * user_domain_id, user_password) gets its own client authenticated as that user; a project_name
 * alone is tried with the configured user. When that project is not the one holding the sync
 * volumes (a shared gateway), the boot volumes reach it by volume transfer.
 *
 * A custom scope is remembered for the host (boot-scopes.ts) so cleanup can reach what the boot
 * made there later, even when the service user has no role in that project.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackClient, OpenStackError } from './client/index.js';
import type { BootOptions } from './boot-options.js';
import type { OpenStackContext } from './context.js';

/** A project other than the configured one, as the target's user (`user` null) or another one. */
export interface BootScope {
  projectName: string;
  projectDomainId: string;
  user: { userName: string; userDomainId: string; password: string } | null;
}

export interface BootSession {
  /** Acts in the boot project. */
  client: OpenStackClient;
  projectId: string;
  projectName: string;
  /** The custom scope, or null for the configured project and user. */
  scope: BootScope | null;
  /** The boot project differs from the volume project: boot volumes go over by transfer. */
  transfer: boolean;
  /** Releases the session's own token (not the shared client's). */
  close(): Promise<void>;
}

/** The custom scope the options ask for, or null when the machine boots as the target's user in its project. */
export function scopeOf(ctx: OpenStackContext, o: BootOptions): BootScope | null {
  const sameProject = o.projectName === null || (o.projectName === ctx.config.projectName && o.projectDomainId === ctx.config.projectDomainId);
  if (o.user === null && sameProject) return null;
  return { projectName: o.projectName ?? ctx.config.projectName, projectDomainId: o.projectDomainId, user: o.user };
}

/** A client acting in `scope` (not yet authenticated). */
export function scopeClient(ctx: OpenStackContext, scope: BootScope): OpenStackClient {
  const password = scope.user?.password ?? ctx.secret.os_password;
  if (password === undefined) throw new RehostError('VALIDATION', 'boot.user_password: the target has no stored password to open the project with', { field: 'boot.user_password' });
  return new OpenStackClient({
    authUrl: ctx.config.authUrl,
    region: ctx.config.region,
    interface: ctx.config.endpointInterface,
    username: scope.user?.userName ?? ctx.config.username,
    userDomainId: scope.user?.userDomainId ?? ctx.config.userDomainId,
    password,
    projectName: scope.projectName,
    projectDomainId: scope.projectDomainId,
  });
}

/** Who `scope` acts as, for messages (never the password). */
export function describeScope(ctx: OpenStackContext, scope: BootScope): string {
  return `${scope.user !== null ? `user ${scope.user.userName}` : `the target's user ${ctx.config.username}`} in project ${scope.projectName}`;
}

export async function openBootSession(ctx: OpenStackContext, o: BootOptions, signal?: AbortSignal): Promise<BootSession> {
  if (ctx.config.gateway.mode === 'shared' && o.projectName === null) {
    throw new RehostError('VALIDATION', 'boot.project_name: with a shared gateway the machine boots in the user\'s project: give project_name (and user_name/user_password)', { field: 'boot.project_name' });
  }
  const scope = scopeOf(ctx, o);
  const client = scope === null ? ctx.client : scopeClient(ctx, scope);
  let info;
  try {
    info = await client.keystone.info(signal);
  } catch (err) {
    if (scope !== null && (OpenStackError.isOpenStack(err, 401) || OpenStackError.isOpenStack(err, 404))) {
      const field = o.user !== null ? 'boot.user_name' : 'boot.project_name';
      throw new RehostError('VALIDATION', `${field}: OpenStack refused ${describeScope(ctx, scope)}: wrong user name, password, domain, or no role in that project`, { field }, { cause: err });
    }
    throw err;
  }
  const transfer = info.projectId !== (await ctx.volumeProjectId());
  return {
    client,
    projectId: info.projectId,
    projectName: info.projectName,
    scope,
    transfer,
    close: async () => {
      if (scope !== null) await client.close();
    },
  };
}
