/**
 * Which project a machine boots in, and as whom. By default: the configured project with the
 * configured client. A custom project (seed: project_name, project_domain_id, user_name,
 * user_domain_id, user_password) gets its own client authenticated as that user; a project_name
 * alone is tried with the configured user. When that project is not the one holding the sync
 * volumes (a shared gateway), the boot volumes reach it by volume transfer.
 */
import { RehostError } from '../../../src-shared/errors.js';
import { OpenStackClient, OpenStackError } from './client/index.js';
import type { BootOptions } from './boot-options.js';
import type { OpenStackContext } from './context.js';

export interface BootSession {
  /** Acts in the boot project. */
  client: OpenStackClient;
  projectId: string;
  projectName: string;
  /** The boot project differs from the volume project: boot volumes go over by transfer. */
  transfer: boolean;
  /** Releases the session's own token (not the shared client's). */
  close(): Promise<void>;
}

export async function openBootSession(ctx: OpenStackContext, o: BootOptions, signal?: AbortSignal): Promise<BootSession> {
  const sameProject = o.projectName === null || (o.projectName === ctx.config.projectName && o.projectDomainId === ctx.config.projectDomainId);
  if (ctx.config.gateway.mode === 'shared' && o.projectName === null) {
    throw new RehostError('VALIDATION', 'boot.project_name: with a shared gateway the machine boots in the user\'s project: give project_name (and user_name/user_password)', { field: 'boot.project_name' });
  }
  let client = ctx.client;
  let own = false;
  if (o.user !== null || !sameProject) {
    const password = o.user?.password ?? ctx.secret.os_password;
    if (password === undefined) throw new RehostError('VALIDATION', 'boot.user_password: the target has no stored password to open the project with', { field: 'boot.user_password' });
    client = new OpenStackClient({
      authUrl: ctx.config.authUrl,
      region: ctx.config.region,
      username: o.user?.userName ?? ctx.config.username,
      userDomainId: o.user?.userDomainId ?? ctx.config.userDomainId,
      password,
      projectName: o.projectName ?? ctx.config.projectName,
      projectDomainId: o.projectDomainId,
    });
    own = true;
  }
  let info;
  try {
    info = await client.keystone.info(signal);
  } catch (err) {
    if (own && (OpenStackError.isOpenStack(err, 401) || OpenStackError.isOpenStack(err, 404))) {
      const field = o.user !== null ? 'boot.user_name' : 'boot.project_name';
      const who = o.user !== null ? `user ${o.user.userName}` : `the target's user ${ctx.config.username}`;
      throw new RehostError('VALIDATION', `${field}: OpenStack refused ${who} in project ${o.projectName ?? ctx.config.projectName}: wrong user name, password, domain, or no role in that project`, { field }, { cause: err });
    }
    throw err;
  }
  const transfer = info.projectId !== (await ctx.volumeProjectId());
  return {
    client,
    projectId: info.projectId,
    projectName: info.projectName,
    transfer,
    close: async () => {
      if (own) await client.close();
    },
  };
}
