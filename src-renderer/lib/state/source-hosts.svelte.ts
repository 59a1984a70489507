/**
 * Step 1 of the wizard: the machines a source offers (GET /sources/:id/hosts) with their
 * environment checks, searched and ticked, then registered (POST /hosts/register).
 */
import type { CheckLevel } from '../../../src-shared/states.js';
import { api, attempt, toApiError, type ApiError, type RehostApi } from '../api/index.js';
import { unique } from './unique.js';

export interface EnvCheck {
  id: string;
  ok: boolean;
  severity: CheckLevel;
  code: string;
  reason: string;
}

/** A discovered machine as the register step shows it. */
export interface SourceHost {
  id: string;
  name: string;
  osType: string;
  osVersion: string;
  cpus: number;
  memoryMiB: number;
  disks: { size: string }[];
  checks: EnvCheck[];
  registered: boolean;
}

const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);
const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function toCheck(raw: unknown): EnvCheck | null {
  if (raw === null || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const severity = r.severity === 'ERROR' || r.severity === 'WARN' ? r.severity : 'OK';
  return { id: str(r.id), ok: r.ok === true, severity, code: str(r.code), reason: str(r.reason) };
}

/** A row of GET /sources/:id/hosts in the shape the screen uses (unknown fields tolerated). */
export function toSourceHost(raw: Record<string, unknown>): SourceHost {
  const disks = Array.isArray(raw.disks) ? raw.disks.map((d) => ({ size: str((d as Record<string, unknown>)?.size) })) : [];
  const checks = Array.isArray(raw.checks) ? raw.checks.map(toCheck).filter((c): c is EnvCheck => c !== null) : [];
  return {
    id: str(raw.id),
    name: str(raw.host_name, str(raw.id)),
    osType: str(raw.os_type),
    osVersion: str(raw.os_version),
    cpus: int(raw.cpus),
    memoryMiB: int(raw.memory_mib),
    disks,
    checks,
    registered: raw.is_registered === true,
  };
}

/**
 * The worst level of a host's checks: one ERROR makes the host unregistrable. The level is the
 * check's `severity` (`ok` only says whether migration can go on: false exactly for ERROR).
 */
export function worstLevel(checks: readonly EnvCheck[]): CheckLevel {
  if (checks.some((c) => c.severity === 'ERROR')) return 'ERROR';
  if (checks.some((c) => c.severity === 'WARN')) return 'WARN';
  return 'OK';
}

export class SourceHostsState {
  sourceId = $state<string | null>(null);
  hosts = $state<SourceHost[]>([]);
  search = $state('');
  selected = $state<string[]>([]);
  loading = $state(false);
  registering = $state(false);
  error = $state<ApiError | null>(null);
  /** The source's inventory tree (vSphere), or null. */
  tree = $state<unknown>(null);
  /** The SSH host key or TLS thumbprint pinned on first use, for the user to confirm. */
  pinned = $state<string | null>(null);
  /** How many hosts the last register call accepted. */
  registeredCount = $state<number | null>(null);
  readonly #api: RehostApi;
  #seq = 0;

  constructor(rehostApi: RehostApi) {
    this.#api = rehostApi;
  }

  /** The hosts whose name, OS or version contains the search text (case-insensitive). */
  get visible(): SourceHost[] {
    const q = this.search.trim().toLowerCase();
    if (q === '') return this.hosts;
    return this.hosts.filter((h) => [h.name, h.osType, h.osVersion].some((v) => v.toLowerCase().includes(q)));
  }

  /** Whether a host may be ticked: not registered yet and no ERROR check. */
  selectable(host: SourceHost): boolean {
    return !host.registered && worstLevel(host.checks) !== 'ERROR';
  }

  async open(sourceId: string | null): Promise<void> {
    const seq = ++this.#seq;
    this.sourceId = sourceId;
    this.hosts = [];
    this.selected = [];
    this.error = null;
    this.registeredCount = null;
    this.tree = null;
    this.pinned = null;
    if (sourceId === null) return;
    this.loading = true;
    try {
      const [reply, detail] = await Promise.all([this.#api.sourceHosts(sourceId), this.#api.sourceDetail(sourceId)]);
      if (seq !== this.#seq) return;
      this.hosts = reply.data.map(toSourceHost);
      this.tree = detail.tree;
      this.pinned = detail.source.pinned_identity;
    } catch (err) {
      if (seq === this.#seq) this.error = toApiError(err);
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }

  toggle(id: string, on: boolean): void {
    this.toggleMany([id], on);
  }

  toggleMany(ids: readonly string[], on: boolean): void {
    this.selected = on ? unique([...this.selected, ...ids]) : this.selected.filter((s) => !ids.includes(s));
  }

  /** Whether the machine with this id may be ticked. */
  selectableId(id: string): boolean {
    const host = this.hosts.find((h) => h.id === id);
    return host !== undefined && this.selectable(host);
  }

  /** Ticks every visible selectable host, or unticks them when all are ticked. */
  toggleVisible(): void {
    const ids = this.visible.filter((h) => this.selectable(h)).map((h) => h.id);
    const all = ids.length > 0 && ids.every((id) => this.selected.includes(id));
    this.selected = all ? this.selected.filter((id) => !ids.includes(id)) : unique([...this.selected, ...ids]);
  }

  async register(): Promise<boolean> {
    if (this.selected.length === 0 || this.sourceId === null) return false;
    this.registering = true;
    const ids = this.selected;
    this.error = await attempt(this.#api.registerHosts({ ids }));
    this.registering = false;
    if (this.error) return false;
    this.registeredCount = ids.length;
    const sourceId = this.sourceId;
    const count = ids.length;
    await this.open(sourceId);
    this.registeredCount = count;
    return true;
  }
}

export const sourceHosts = new SourceHostsState(api);
