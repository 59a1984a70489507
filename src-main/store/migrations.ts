/**
 * Versioned schema migrations, applied in order; `PRAGMA user_version` records how many ran.
 * Never edit a shipped migration: append a new one.
 *
 * Records are JSON documents (`doc`) with the columns that queries filter or sort on beside them.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (username TEXT PRIMARY KEY, doc TEXT NOT NULL);
  CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at INTEGER NOT NULL);
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE sources (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, doc TEXT NOT NULL);
  CREATE TABLE discovered_hosts (id TEXT PRIMARY KEY, source_id TEXT NOT NULL, doc TEXT NOT NULL);
  CREATE INDEX discovered_hosts_source ON discovered_hosts(source_id);
  CREATE TABLE targets (id TEXT PRIMARY KEY, cloud_type TEXT NOT NULL, created_at INTEGER NOT NULL, doc TEXT NOT NULL);
  CREATE TABLE hosts (
    id TEXT PRIMARY KEY, source_id TEXT NOT NULL, target_id TEXT, step TEXT NOT NULL, status TEXT NOT NULL,
    name TEXT NOT NULL, macs TEXT NOT NULL, created_at INTEGER NOT NULL, doc TEXT NOT NULL);
  CREATE INDEX hosts_step ON hosts(step, created_at);
  CREATE INDEX hosts_target ON hosts(target_id);
  CREATE TABLE gateways (id TEXT PRIMARY KEY, target_id TEXT NOT NULL, doc TEXT NOT NULL);
  CREATE TABLE volumes (id TEXT PRIMARY KEY, host_id TEXT NOT NULL, target_id TEXT NOT NULL, doc TEXT NOT NULL);
  CREATE INDEX volumes_host ON volumes(host_id);
  CREATE TABLE snapshots (id TEXT PRIMARY KEY, host_id TEXT NOT NULL, created_at INTEGER NOT NULL, doc TEXT NOT NULL);
  CREATE INDEX snapshots_host ON snapshots(host_id, created_at);
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY, owner_id TEXT, owner_name TEXT NOT NULL, job_type TEXT NOT NULL, status TEXT NOT NULL,
    start_at INTEGER NOT NULL, doc TEXT NOT NULL);
  CREATE INDEX jobs_start ON jobs(start_at);
  CREATE INDEX jobs_owner ON jobs(owner_id);
  CREATE TABLE licenses (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
  `,
  // 2: sessions issued in-process to the desktop shell.
  `ALTER TABLE sessions ADD COLUMN local INTEGER NOT NULL DEFAULT 0;`,
];
