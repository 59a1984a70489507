/**
 * The Local target driver: migrated disks land as sparse raw files in a folder on this machine.
 * The embedded default target (DESIGN.md), so it needs no gateway and no credentials.
 */
import type { DriverDeps, TargetDriver } from '../../core/drivers.js';
import { rootFromConfig } from './layout.js';
import { LocalTarget } from './local-target.js';

/** The Local target keeps no secrets. */
export const secretFields: readonly string[] = [];

/** Builds a Local target for `config.path` (an absolute folder, created on first use). */
export function createLocalTarget(deps: DriverDeps, config: Record<string, unknown>): TargetDriver {
  return new LocalTarget(deps, rootFromConfig(config));
}
