/**
 * sql.js (SQLite in WebAssembly, in memory) with crash-safe persistence.
 *
 * sql.js keeps the whole database in memory, so durability is ours: `persist()` exports the
 * database, writes it to `<file>.next`, fsyncs it, renames it over `<file>` and fsyncs the folder.
 * The rename is atomic, so after `kill -9` at any moment the file on disk is either the previous
 * durable version or the new one, never a torn mix. Concurrent `persist()` calls share one write
 * (group commit): a caller is answered once a write that started after its change is durable.
 */
import { mkdirSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import initSqlJs, { type Database, type SqlValue } from 'sql.js';
import { MIGRATIONS } from './migrations.js';
import { pendingPath, writeFileAtomic } from './atomic-file.js';

export type Row = Record<string, SqlValue>;

export class SqlDatabase {
  private version = 0;
  private durableVersion = 0;
  private writing: Promise<void> | null = null;
  private closed = false;

  private constructor(
    private readonly db: Database,
    readonly file: string,
  ) {}

  /** Opens (or creates) the database file and brings its schema up to date. */
  static async open(file: string): Promise<SqlDatabase> {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('sql.js/dist/sql-wasm.wasm');
    const SQL = await initSqlJs({ locateFile: () => wasmPath });
    mkdirSync(dirname(file), { recursive: true });
    // A leftover `.next` is a write that never got renamed: the previous file is the truth.
    rmSync(pendingPath(file), { force: true });
    const db = existsSync(file) ? new SQL.Database(readFileSync(file)) : new SQL.Database();
    const sql = new SqlDatabase(db, file);
    const migrated = sql.migrate();
    if (migrated || !existsSync(file)) await sql.persist();
    return sql;
  }

  /** Runs a statement that changes data; the change is in memory until `persist()`. */
  run(statement: string, params: SqlValue[] = []): void {
    this.assertOpen();
    this.db.run(statement, params);
    this.version++;
  }

  all(statement: string, params: SqlValue[] = []): Row[] {
    this.assertOpen();
    const stmt = this.db.prepare(statement);
    try {
      stmt.bind(params);
      const rows: Row[] = [];
      while (stmt.step()) rows.push(stmt.getAsObject());
      return rows;
    } finally {
      stmt.free();
    }
  }

  one(statement: string, params: SqlValue[] = []): Row | null {
    return this.all(statement, params)[0] ?? null;
  }

  /** Runs several changes atomically in memory (all or none). */
  transaction(fn: () => void): void {
    this.assertOpen();
    this.db.run('BEGIN');
    try {
      fn();
      this.db.run('COMMIT');
    } catch (err) {
      this.db.run('ROLLBACK');
      throw err;
    }
  }

  /** Resolves once every change made before the call is durable on disk. */
  async persist(): Promise<void> {
    const wanted = this.version;
    while (this.durableVersion < wanted) {
      this.writing ??= this.writeOnce().finally(() => {
        this.writing = null;
      });
      await this.writing;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.persist();
    this.closed = true;
    this.db.close();
  }

  private async writeOnce(): Promise<void> {
    const captured = this.version;
    await writeFileAtomic(this.file, this.db.export());
    this.durableVersion = Math.max(this.durableVersion, captured);
  }

  private migrate(): boolean {
    const current = Number(this.one('PRAGMA user_version')?.user_version ?? 0);
    if (current > MIGRATIONS.length) {
      throw new Error(`database ${this.file} has schema version ${current}, newer than this build (${MIGRATIONS.length})`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.run(`PRAGMA user_version = ${v + 1}`);
      });
      this.version++;
    }
    return current < MIGRATIONS.length;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('database is closed');
  }
}
