/**
 * The store: repositories of core's `Store` port over one sql.js database.
 */
import type { SqlValue } from 'sql.js';
import type { DiscoveredHost, Gateway, Host, Job, License, Session, Snapshot, Source, Target, User, Volume } from '../core/model.js';
import type { HostQuery, JobQuery, Page, Repo, Store } from '../core/ports.js';
import { SqlDatabase } from './database.js';

/** Opens the database file and returns the repositories over it. */
export async function openStore(file: string): Promise<Store> {
  const db = await SqlDatabase.open(file);
  return createRepositories(db);
}

type Columns<T> = (item: T) => Record<string, SqlValue>;

function docRepo<T extends { id: string }>(db: SqlDatabase, table: string, columns: Columns<T> = () => ({}), order = 'rowid'): Repo<T> {
  return {
    get: (id) => parse<T>(db.one(`SELECT doc FROM ${table} WHERE id = ?`, [id])),
    list: () => db.all(`SELECT doc FROM ${table} ORDER BY ${order}`).map((r) => JSON.parse(String(r.doc)) as T),
    put: (item) => {
      const cols = { id: item.id, ...columns(item), doc: JSON.stringify(item) };
      const names = Object.keys(cols);
      db.run(
        `INSERT INTO ${table} (${names.join(',')}) VALUES (${names.map(() => '?').join(',')})
         ON CONFLICT(id) DO UPDATE SET ${names.filter((n) => n !== 'id').map((n) => `${n} = excluded.${n}`).join(',')}`,
        Object.values(cols),
      );
    },
    delete: (id) => db.run(`DELETE FROM ${table} WHERE id = ?`, [id]),
  };
}

function parse<T>(row: Record<string, SqlValue> | null): T | null {
  return row === null ? null : (JSON.parse(String(row.doc)) as T);
}

function docs<T>(rows: Record<string, SqlValue>[]): T[] {
  return rows.map((r) => JSON.parse(String(r.doc)) as T);
}

function page<T>(db: SqlDatabase, from: string, where: string[], params: SqlValue[], order: string, q: { page: number; pageSize: number }): Page<T> {
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const total = Number(db.one(`SELECT COUNT(*) AS n FROM ${from} ${clause}`, params)?.n ?? 0);
  const rows = db.all(`SELECT doc FROM ${from} ${clause} ORDER BY ${order} LIMIT ? OFFSET ?`, [
    ...params,
    q.pageSize,
    (q.page - 1) * q.pageSize,
  ]);
  return { total, items: docs<T>(rows) };
}

function placeholders(values: readonly unknown[]): string {
  return values.map(() => '?').join(',');
}

function hostRepository(db: SqlDatabase): Store['hosts'] {
  const hosts = docRepo<Host>(
    db,
    'hosts',
    (h) => ({
      source_id: h.sourceId,
      target_id: h.targetId,
      step: h.step,
      status: h.status,
      name: h.name,
      macs: `,${h.nics.map((n) => n.mac.toLowerCase()).join(',')},`,
      created_at: h.createdAt,
    }),
    'created_at, id',
  );
  return {
    ...hosts,
    query: (q: HostQuery) => {
      const where: string[] = [];
      const params: SqlValue[] = [];
      if (!q.includeUnregistered) where.push("hosts.status <> 'host_unregister_done'");
      if (q.step !== undefined) {
        where.push('hosts.step = ?');
        params.push(q.step);
      }
      if (q.ids && q.ids.length > 0) {
        where.push(`hosts.id IN (${placeholders(q.ids)})`);
        params.push(...q.ids);
      }
      if (q.macs && q.macs.length > 0) {
        where.push(`(${q.macs.map(() => 'hosts.macs LIKE ?').join(' OR ')})`);
        params.push(...q.macs.map((m) => `%,${m.toLowerCase()},%`));
      }
      if (q.keyword) {
        where.push("hosts.name LIKE ? ESCAPE '\\'");
        params.push(`%${q.keyword.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      }
      if (q.targetCloudType) {
        where.push('hosts.target_id IN (SELECT id FROM targets WHERE cloud_type = ?)');
        params.push(q.targetCloudType);
      }
      return page<Host>(db, 'hosts', where, params, 'hosts.created_at, hosts.id', q);
    },
    listByTarget: (targetId) => docs<Host>(db.all('SELECT doc FROM hosts WHERE target_id = ? ORDER BY created_at', [targetId])),
    listBySource: (sourceId) => docs<Host>(db.all('SELECT doc FROM hosts WHERE source_id = ? ORDER BY created_at', [sourceId])),
  };
}

function jobRepository(db: SqlDatabase): Store['jobs'] {
  const jobs = docRepo<Job>(
    db,
    'jobs',
    (j) => ({ owner_id: j.ownerId, owner_name: j.ownerName, job_type: j.type, status: j.status, start_at: j.startAt }),
    'start_at DESC, rowid DESC',
  );
  return {
    ...jobs,
    query: (q: JobQuery) => {
      const where: string[] = [];
      const params: SqlValue[] = [];
      const filters: [string, SqlValue | undefined][] = [
        ['owner_name = ?', q.ownerName],
        ['owner_id = ?', q.ownerId],
        ['job_type = ?', q.jobType],
      ];
      if (q.statuses && q.statuses.length > 0) {
        where.push(`status IN (${placeholders(q.statuses)})`);
        params.push(...q.statuses);
      }
      for (const [clause, value] of filters) {
        if (value === undefined || value === '') continue;
        where.push(clause);
        params.push(value);
      }
      return page<Job>(db, 'jobs', where, params, 'start_at DESC, rowid DESC', q);
    },
    listWorking: () => docs<Job>(db.all("SELECT doc FROM jobs WHERE status = 'working'")),
  };
}

function accountRepositories(db: SqlDatabase): Pick<Store, 'users' | 'sessions' | 'settings'> {
  return {
    users: {
      get: (username) => parse<User>(db.one('SELECT doc FROM users WHERE username = ?', [username])),
      put: (user) =>
        db.run('INSERT INTO users (username, doc) VALUES (?, ?) ON CONFLICT(username) DO UPDATE SET doc = excluded.doc', [
          user.username,
          JSON.stringify(user),
        ]),
    },
    sessions: {
      get: (tokenHash) => {
        const row = db.one('SELECT token_hash, username, expires_at, local FROM sessions WHERE token_hash = ?', [tokenHash]);
        if (row === null) return null;
        return { tokenHash: String(row.token_hash), username: String(row.username), expiresAt: Number(row.expires_at), local: Number(row.local) === 1 };
      },
      put: (s: Session) =>
        db.run('INSERT OR REPLACE INTO sessions (token_hash, username, expires_at, local) VALUES (?, ?, ?, ?)', [s.tokenHash, s.username, s.expiresAt, s.local ? 1 : 0]),
      deleteForUser: (username) => db.run('DELETE FROM sessions WHERE username = ?', [username]),
      deleteExpired: (now) => db.run('DELETE FROM sessions WHERE expires_at <= ?', [now]),
    },
    settings: {
      get: (key) => {
        const row = db.one('SELECT value FROM settings WHERE key = ?', [key]);
        return row === null ? null : String(row.value);
      },
      put: (key, value) =>
        db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', [key, value]),
    },
  };
}

export function createRepositories(db: SqlDatabase): Store {
  const volumes = docRepo<Volume>(db, 'volumes', (v) => ({ host_id: v.hostId, target_id: v.targetId }));
  const snapshots = docRepo<Snapshot>(db, 'snapshots', (s) => ({ host_id: s.hostId, created_at: s.createdAt }), 'created_at');
  return {
    ...accountRepositories(db),
    sources: docRepo<Source>(db, 'sources', (s) => ({ created_at: s.createdAt }), 'created_at'),
    discovered: {
      get: (id) => parse<DiscoveredHost>(db.one('SELECT doc FROM discovered_hosts WHERE id = ?', [id])),
      listBySource: (sourceId) => docs<DiscoveredHost>(db.all('SELECT doc FROM discovered_hosts WHERE source_id = ? ORDER BY rowid', [sourceId])),
      put: (h) =>
        db.run(
          'INSERT INTO discovered_hosts (id, source_id, doc) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET source_id = excluded.source_id, doc = excluded.doc',
          [h.id, h.sourceId, JSON.stringify(h)],
        ),
      deleteBySource: (sourceId) => db.run('DELETE FROM discovered_hosts WHERE source_id = ?', [sourceId]),
    },
    hosts: hostRepository(db),
    targets: docRepo<Target>(db, 'targets', (t) => ({ cloud_type: t.cloudType, created_at: t.createdAt }), 'created_at'),
    gateways: {
      ...docRepo<Gateway>(db, 'gateways', (g) => ({ target_id: g.targetId })),
      listByTarget: (targetId) => docs<Gateway>(db.all('SELECT doc FROM gateways WHERE target_id = ?', [targetId])),
    },
    volumes: {
      ...volumes,
      listByHost: (hostId) => docs<Volume>(db.all('SELECT doc FROM volumes WHERE host_id = ? ORDER BY rowid', [hostId])),
      listByTarget: (targetId) => docs<Volume>(db.all('SELECT doc FROM volumes WHERE target_id = ? ORDER BY rowid', [targetId])),
    },
    snapshots: {
      ...snapshots,
      listByHost: (hostId) => docs<Snapshot>(db.all('SELECT doc FROM snapshots WHERE host_id = ? ORDER BY created_at, rowid', [hostId])),
    },
    jobs: jobRepository(db),
    licenses: docRepo<License>(db, 'licenses'),
    persist: () => db.persist(),
    close: () => db.close(),
  };
}
