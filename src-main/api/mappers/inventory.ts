/** Maps environment checks and the seed-002 source server to the API (GET /sources/:id, GET /hosts/:id?sheet=base). */
import type { Static } from '@sinclair/typebox';
import type { EnvironmentCheckItem, SourceServer } from '../../../src-shared/api/inventory.js';
import type { EnvCheck } from '../../core/model.js';

/**
 * One check with the seed's fields (`name`, `result`, `error_code`, `error_or_warn`,
 * `error_params`, `params` as strings) beside ours (`id`, `ok`, `severity`, `code`, `reason`),
 * which the UI reads.
 */
export function checkItem(c: EnvCheck): Static<typeof EnvironmentCheckItem> {
  const pairs = Object.entries(c.params).map(([k, v]) => `${k}=${String(v)}`);
  const failed = c.severity !== 'OK';
  return {
    name: c.id,
    result: c.severity,
    error_code: failed ? c.code : null,
    error_or_warn: failed ? c.reason : null,
    error_params: failed ? pairs.join(', ') : '',
    params: pairs,
    id: c.id,
    ok: c.ok,
    severity: c.severity,
    code: c.code,
    reason: c.reason,
  };
}

/** The source server as the driver reported it, or null for sources that report none (VMware, Image). */
export function sourceServerItem(server: SourceServer | undefined): SourceServer | null {
  return server ?? null;
}
