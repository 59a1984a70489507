/**
 * Step 4 of the wizard: booting one host on its target (POST /hosts/:id/action), a test boot
 * from a chosen snapshot (`volume_snapshot`) or a cutover (`volume_backup`). The choices come
 * from the lists the target returns (GET /targets/:id/resources?kind=…); a kind the target
 * answers 400 for is not offered, and its field is not shown.
 */
import type { ResourceKind } from '../../../src-shared/states.js';
import { api, attempt, toApiError, type ApiError, type BootParams, type HostItem, type RehostApi } from '../api/index.js';

/** The resource lists the boot form may offer, in the order it shows them. */
export const BOOT_KINDS = ['projects', 'availability_zones', 'flavors', 'networks', 'subnets', 'security_groups', 'floating_ips', 'keypairs'] as const satisfies readonly ResourceKind[];
export type BootKind = (typeof BOOT_KINDS)[number];

export interface ResourceOption {
  id: string;
  name: string;
  raw: Record<string, unknown>;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** A resource row as an option: its id and a readable name (falls back to the id). */
export function toOption(raw: Record<string, unknown>): ResourceOption {
  const id = str(raw.id) || str(raw.uuid) || str(raw.name);
  const name = str(raw.name) || str(raw.floating_ip_address) || str(raw.address) || id;
  return { id, name, raw };
}

export type BootChoice = Record<BootKind, string> & {
  backupType: 'volume_snapshot' | 'volume_backup';
  snapshotId: string;
  osType: 'Linux' | 'Windows';
  fixedIp: string;
  adminPass: string;
  /** Seconds the engine waits for the booted machine to answer (extension; empty: its default). */
  timeout: string;
};

/** The seed's `boot` object from the form (empty optional values are left out). */
export function bootParams(choice: BootChoice, options: Partial<Record<BootKind, ResourceOption[]>>): BootParams {
  const pick = (kind: BootKind) => options[kind]?.find((o) => o.id === choice[kind]);
  const flavor = pick('flavors');
  const network = pick('networks');
  const subnet = pick('subnets');
  const group = pick('security_groups');
  const zone = pick('availability_zones');
  const floating = pick('floating_ips');
  const project = pick('projects');
  const fields: Record<string, string | undefined> = {
    project_name: project?.name,
    availability_zone_id: zone?.id,
    availability_zone_name: zone?.name,
    flavor_id: flavor?.id,
    flavor_name: flavor?.name,
    flavor_vcpus: flavor ? str(flavor.raw.vcpus) || undefined : undefined,
    flavor_ram: flavor ? str(flavor.raw.ram ?? flavor.raw.ram_mib) || undefined : undefined,
    network_id: network?.id,
    network_name: network?.name,
    subnet_id: subnet?.id,
    subnet_name: subnet?.name,
    subnet_cidr: subnet ? str(subnet.raw.cidr) || undefined : undefined,
    security_group_id: group?.id,
    security_group_name: group?.name,
    floating_ip_id: floating?.id,
    floating_ip_address: floating ? str(floating.raw.floating_ip_address) || undefined : undefined,
    keypair_id: pick('keypairs')?.id,
    fixed_ip: choice.fixedIp.trim(),
    admin_pass: choice.adminPass,
  };
  const given = Object.fromEntries(Object.entries(fields).filter(([, value]) => Boolean(value))) as Partial<BootParams>;
  const timeout = /^\d+$/.test(choice.timeout.trim()) ? { boot_timeout_seconds: Number(choice.timeout.trim()) } : {};
  return { ...given, ...timeout, backup_type: choice.backupType, snapshot_id: choice.snapshotId, os_type: choice.osType };
}

function emptyChoice(host: HostItem): BootChoice {
  const latest = host.snapshots.filter((s) => s.status === 'create_done').at(-1);
  const choice = { backupType: 'volume_snapshot', snapshotId: latest?.id ?? '', osType: host.system_type === 'Windows' ? 'Windows' : 'Linux', fixedIp: '', adminPass: '', timeout: '' } as BootChoice;
  for (const kind of BOOT_KINDS) choice[kind] = '';
  return choice;
}

export class BootState {
  host = $state<HostItem | null>(null);
  choice = $state<BootChoice>({} as BootChoice);
  /** Options per kind the target offers; kinds it does not offer are absent. */
  options = $state<Partial<Record<BootKind, ResourceOption[]>>>({});
  loading = $state(false);
  pending = $state(false);
  error = $state<ApiError | null>(null);
  /** Non-400 failures while listing a kind (shown at that field). */
  kindErrors = $state<Partial<Record<BootKind, ApiError>>>({});
  started = $state(false);
  readonly #api: RehostApi;
  #seq = 0;

  constructor(rehostApi: RehostApi) {
    this.#api = rehostApi;
  }

  /** Snapshots a test boot can start from (done ones, newest last). */
  get snapshots(): HostItem['snapshots'] {
    return this.host?.snapshots.filter((s) => s.status === 'create_done') ?? [];
  }

  async open(host: HostItem): Promise<void> {
    const seq = ++this.#seq;
    this.host = host;
    this.choice = emptyChoice(host);
    this.options = {};
    this.kindErrors = {};
    this.error = null;
    this.started = false;
    if (!host.storage_id) return;
    this.loading = true;
    const targetId = host.storage_id;
    await Promise.all(
      BOOT_KINDS.map(async (kind) => {
        try {
          const reply = await this.#api.targetResources(targetId, kind);
          if (seq !== this.#seq) return;
          const list = reply.data.map(toOption).filter((o) => o.id !== '');
          // Nothing is preselected: an empty choice lets the target pick (a flavor that fits).
          this.options[kind] = list;
        } catch (err) {
          const error = toApiError(err);
          if (seq === this.#seq && error.status !== 400) this.kindErrors[kind] = error;
        }
      }),
    );
    if (seq === this.#seq) this.loading = false;
  }

  close(): void {
    this.#seq++;
    this.host = null;
  }

  async submit(): Promise<boolean> {
    const host = this.host;
    if (!host) return false;
    this.pending = true;
    this.error = await attempt(this.#api.bootHost(host.id, { boot: bootParams(this.choice, this.options) }));
    this.pending = false;
    this.started = this.error === null;
    return this.started;
  }
}

export const boot = new BootState(api);
