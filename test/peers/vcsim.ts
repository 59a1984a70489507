/**
 * The vCenter simulator as a test peer: builds it once (test/peers/vcsim/build.sh, cached in
 * test/peers/vcsim/.build/), starts `vcsim -l 127.0.0.1:0 -E env.sh` with the flags a test wants,
 * and seeds VM disks over HTTP PUT to the datastore folder.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '../../src-main/core/ports.js';
import { readInventory } from '../../src-main/sources/vsphere/inventory.js';
import { VimClient } from '../../src-main/sources/vsphere/vim25/client.js';
import { retrieveOne } from '../../src-main/sources/vsphere/vim25/property-collector.js';
import { runTask } from '../../src-main/sources/vsphere/vim25/tasks.js';
import type { VmDisk, VmInfo } from '../../src-main/sources/vsphere/vm-info.js';

const HERE = resolve(import.meta.dirname, 'vcsim');

export interface Vcsim {
  /** "https://127.0.0.1:PORT" */
  url: string;
  host: string;
  port: number;
  username: string;
  password: string;
  proc: ChildProcess;
  output(): string;
  /** PUTs `data` to `[datastore] path` (creating or replacing the file). */
  put(datastore: string, path: string, data: Buffer, dcPath?: string): Promise<void>;
  /** The datastore endpoint's URL of `[datastore] path` (what `curl -k` can fetch). */
  fileUrl(datastore: string, path: string, dcPath?: string): string;
  stop(): Promise<void>;
}

let built: string | null = null;

/** The simulator binary, built on first use. */
export function vcsimBinary(): string {
  if (built === null) {
    const out = execFileSync('bash', [join(HERE, 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
    built = out;
  }
  return built;
}

export async function startVcsim(flags: string[] = [], credentials = { username: 'rehost', password: 'vcsim-pass' }): Promise<Vcsim> {
  const bin = vcsimBinary();
  const dir = mkdtempSync(join(tmpdir(), 'rehost-vcsim-'));
  const envFile = join(dir, 'env.sh');
  const args = ['-l', '127.0.0.1:0', '-E', envFile, '-username', credentials.username, '-password', credentials.password, ...flags];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 20_000;
  while (!existsSync(envFile) || readFileSync(envFile, 'utf8') === '') {
    if (proc.exitCode !== null) throw new Error(`vcsim exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`vcsim did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = /GOVC_URL=https:\/\/(?:[^@\s]*@)?127\.0\.0\.1:(\d+)\//.exec(readFileSync(envFile, 'utf8'));
  if (!m) throw new Error(`unexpected vcsim env: ${readFileSync(envFile, 'utf8')}`);
  const port = Number(m[1]);
  const sim: Vcsim = {
    url: `https://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    ...credentials,
    proc,
    output: () => out,
    put: (datastore, path, data, dcPath = 'DC0') => putFile(port, folderPath(datastore, path, dcPath), data),
    fileUrl: (datastore, path, dcPath = 'DC0') => `https://127.0.0.1:${port}${folderPath(datastore, path, dcPath)}`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return sim;
}

function folderPath(datastore: string, path: string, dcPath: string): string {
  return `/folder/${path}?dcPath=${encodeURIComponent(dcPath)}&dsName=${encodeURIComponent(datastore)}`;
}

function putFile(port: number, path: string, data: Buffer): Promise<void> {
  return new Promise((resolveDone, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'PUT', rejectUnauthorized: false, headers: { 'Content-Length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 || res.statusCode === 201 ? resolveDone() : reject(new Error(`PUT ${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** A VMDK descriptor for a monolithic flat disk of `bytes` whose extent is `flatName`. */
export function flatDescriptor(bytes: number, flatName: string): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'CID=fffffffe',
    'parentCID=ffffffff',
    'createType="vmfs"',
    '',
    '# Extent description',
    `RW ${bytes / 512} VMFS "${flatName}"`,
    '',
    '# The Disk Data Base',
    'ddb.adapterType = "lsilogic"',
    'ddb.virtualHWVersion = "13"',
    '',
  ].join('\n');
}

/** A logger that drops everything, for the helpers' own vim25 sessions. */
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

/** Test-side vim25 calls against the simulator (resize a disk, destroy a VM, count snapshots). */
export class VcsimAdmin {
  private constructor(readonly client: VimClient) {}

  static async open(sim: Vcsim): Promise<VcsimAdmin> {
    const client = new VimClient({ host: sim.host, port: sim.port, username: sim.username, password: sim.password, thumbprint: null }, quiet);
    await client.connect(AbortSignal.timeout(10_000));
    return new VcsimAdmin(client);
  }

  async vms(): Promise<VmInfo[]> {
    return (await readInventory(this.client, AbortSignal.timeout(20_000))).vms;
  }

  async vm(name: string): Promise<VmInfo> {
    const vm = (await this.vms()).find((v) => v.name === name);
    if (!vm) throw new Error(`no VM ${name}`);
    return vm;
  }

  /** Sets the first disk's capacity (vcsim's model disks are 1 MiB). */
  async resizeFirstDisk(name: string, bytes: number): Promise<VmDisk> {
    const vm = await this.vm(name);
    const d = vm.disks[0]!;
    const props = await retrieveOne(this.client, vm.ref, ['config.hardware.device'], AbortSignal.timeout(10_000));
    const unit = /<unitNumber>(\d+)<\/unitNumber>/.exec(JSON.stringify(props.get('config.hardware.device')))?.[1];
    const device =
      `<device xsi:type="VirtualDisk"><key>${d.key}</key><deviceInfo xsi:type="Description"><label>${d.label}</label><summary>disk</summary></deviceInfo><controllerKey>${d.controllerKey}</controllerKey><unitNumber>${unit ?? 0}</unitNumber>` +
      `<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>${d.fileName}</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing>` +
      `<capacityInKB>${bytes / 1024}</capacityInKB><capacityInBytes>${bytes}</capacityInBytes></device>`;
    await runTask(this.client, 'ReconfigVM_Task', vm.ref, `<spec><deviceChange><operation>edit</operation>${device}</deviceChange></spec>`, AbortSignal.timeout(10_000));
    return (await this.vm(name)).disks[0]!;
  }

  async snapshotCount(name: string): Promise<number> {
    return (await this.vm(name)).snapshots.length;
  }

  /** Takes a snapshot (e.g. one a crashed sync would have left). */
  async snapshot(name: string, snapshotName: string): Promise<void> {
    const vm = await this.vm(name);
    await runTask(this.client, 'CreateSnapshot_Task', vm.ref, `<name>${snapshotName}</name><memory>false</memory><quiesce>false</quiesce>`, AbortSignal.timeout(10_000));
  }

  async destroy(name: string): Promise<void> {
    const vm = await this.vm(name);
    if (vm.powerState === 'poweredOn') await runTask(this.client, 'PowerOffVM_Task', vm.ref, '', AbortSignal.timeout(10_000));
    await runTask(this.client, 'Destroy_Task', vm.ref, '', AbortSignal.timeout(10_000));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
