/**
 * The projects a host's boots ran in, remembered so cleanup reaches what they made there: a
 * non-admin service user cannot see another project, so cleanup signs in as the boot's own user
 * (or as the target's user in that project). The scopes, passwords included, live in the
 * driver's vault (the OS keychain), never in the database; they go when the host is cleaned.
 */
import { RehostError } from '../../../src-shared/errors.js';
import type { OpenStackClient } from './client/index.js';
import { describeScope, scopeClient, type BootScope } from './boot-session.js';
import type { OpenStackContext } from './context.js';

const key = (hostId: string) => `boot-scopes:${hostId}`;

function sameScope(a: BootScope, b: BootScope): boolean {
  return a.projectName === b.projectName && a.projectDomainId === b.projectDomainId && a.user?.userName === b.user?.userName && a.user?.userDomainId === b.user?.userDomainId;
}

function parse(text: string | null): BootScope[] {
  if (text === null) return [];
  try {
    const list = JSON.parse(text) as unknown;
    return Array.isArray(list) ? (list as BootScope[]).filter((s) => typeof s?.projectName === 'string' && typeof s.projectDomainId === 'string') : [];
  } catch {
    return [];
  }
}

/** The host's remembered scopes. */
export async function storedScopes(ctx: OpenStackContext, hostId: string): Promise<BootScope[]> {
  return ctx.vault === null ? [] : parse(await ctx.vault.get(key(hostId)));
}

/**
 * Remembers `scope` for the host before the boot creates anything there (a newer password for
 * the same user replaces the older). Without a vault a non-admin service user could not clean
 * up there later: that is said in the log.
 */
export async function rememberScope(ctx: OpenStackContext, hostId: string, scope: BootScope): Promise<void> {
  if (ctx.vault === null) {
    ctx.log.warn({ host: hostId, project: scope.projectName }, 'no vault for boot credentials: cleanup reaches this project only if the service user is an admin');
    return;
  }
  const kept = (await storedScopes(ctx, hostId)).filter((s) => !sameScope(s, scope));
  await ctx.vault.set(key(hostId), JSON.stringify([...kept, scope]));
}

/** Forgets the host's scopes (after its cleanup). */
export async function forgetScopes(ctx: OpenStackContext, hostId: string): Promise<void> {
  await ctx.vault?.set(key(hostId), null);
}

/**
 * Signed-in clients for the host's remembered scopes. A scope that no longer opens (password
 * changed, user or project gone) is an error naming it, unless `force` (then it is skipped and
 * logged: what the boot left there stays).
 */
export async function openStoredScopes(ctx: OpenStackContext, hostId: string, force: boolean, signal: AbortSignal): Promise<OpenStackClient[]> {
  const clients: OpenStackClient[] = [];
  for (const scope of await storedScopes(ctx, hostId)) {
    const client = scopeClient(ctx, scope);
    try {
      await client.keystone.info(signal);
      clients.push(client);
    } catch (err) {
      await client.close();
      const why = `cannot sign in as ${describeScope(ctx, scope)} to remove what the host's boots made there: ${err instanceof Error ? err.message : String(err)}`;
      if (!force) {
        await Promise.all(clients.map((c) => c.close()));
        throw new RehostError('UNPROCESSABLE', `${why}; fix the user or clean with force (what is there then stays)`, { hostId }, { cause: err });
      }
      ctx.log.warn({ host: hostId, project: scope.projectName }, why);
    }
  }
  return clients;
}
