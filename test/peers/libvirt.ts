/**
 * A real libvirt daemon for the KVM target tests: Debian's `libvirtd` (QEMU driver) run as a child
 * we own, inside a network namespace of its own (`unshare --net`), so the bridges and guest NICs
 * it makes never touch the machine's network. Its socket lives in a temporary folder, reached as
 * `qemu:///system?socket=…` (a unix socket path works across network namespaces). `virtlogd`,
 * which writes the domains' console logs, is started too unless one already runs. A transient,
 * address-less network (no dnsmasq) is created for guests to plug into. Needs root and the
 * packages libvirt-daemon-system and libvirt-clients.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LIBVIRTD = '/usr/sbin/libvirtd';

export interface LibvirtPeer {
  /** The URI for `virsh -c` and the KVM target's `libvirt_uri`. */
  uri: string;
  /** A transient libvirt network with a bridge and no addresses. */
  network: string;
  virsh(...args: string[]): string;
  stop(): Promise<void>;
}

/** Why libvirtd cannot run here, or null when it can. */
export function libvirtUnavailable(): string | null {
  if (process.platform !== 'linux') return 'libvirtd runs on Linux only';
  if (process.getuid?.() !== 0) return 'qemu:///system needs root';
  if (!existsSync(LIBVIRTD) || spawnSync('sh', ['-c', 'command -v virsh && command -v unshare'], { stdio: 'ignore' }).status !== 0) {
    return 'libvirt is not installed (apt-get install libvirt-daemon-system libvirt-clients)';
  }
  if (spawnSync('unshare', ['--net', 'true'], { stdio: 'ignore' }).status !== 0) return 'cannot create a network namespace (unshare --net)';
  return null;
}

function track(proc: ChildProcess): { log: () => string; exited: Promise<void> } {
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  proc.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  return { log: () => log, exited: new Promise<void>((r) => proc.once('exit', () => r())) };
}

async function stopChild(proc: ChildProcess, exited: Promise<void>): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const killed = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killed);
}

/** Starts libvirtd (and virtlogd) with state under `dir`; resolves once virsh answers. */
export async function startLibvirt(dir: string): Promise<LibvirtPeer> {
  mkdirSync(join(dir, 'sock'), { recursive: true });
  const conf = join(dir, 'libvirtd.conf');
  writeFileSync(
    conf,
    [`unix_sock_dir = "${join(dir, 'sock')}"`, 'unix_sock_rw_perms = "0700"', 'auth_unix_rw = "none"', 'auth_unix_ro = "none"', `log_outputs = "3:file:${join(dir, 'libvirtd.log')}"`, ''].join('\n'),
  );
  const uri = `qemu:///system?socket=${join(dir, 'sock', 'libvirt-sock')}`;
  const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', uri, ...args], { encoding: 'utf8', timeout: 60_000 });

  // One virtlogd per machine (its socket path is fixed): reuse a running one.
  const logd = virtlogdRunning() ? null : spawn('/usr/sbin/virtlogd', ['-p', join(dir, 'virtlogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logdTrack = logd ? track(logd) : null;
  const daemon = spawn('unshare', ['--net', '--', LIBVIRTD, '-f', conf, '-p', join(dir, 'libvirtd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const daemonTrack = track(daemon);
  const network = `rehost-test-${process.pid}`;
  const stop = async () => {
    for (const name of virshQuiet(virsh, 'list', '--all', '--name')) {
      if (!name.startsWith('rehost-')) continue;
      virshQuiet(virsh, 'destroy', name);
      virshQuiet(virsh, 'undefine', name);
    }
    virshQuiet(virsh, 'net-destroy', network);
    await stopChild(daemon, daemonTrack.exited);
    if (logd && logdTrack) await stopChild(logd, logdTrack.exited);
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`libvirtd exited (${daemon.exitCode}): ${daemonTrack.log()}`);
      if (spawnSync('virsh', ['-q', '-c', uri, 'version'], { stdio: 'ignore', timeout: 10_000 }).status === 0) break;
      if (Date.now() > deadline) throw new Error(`libvirtd did not answer on ${uri}: ${daemonTrack.log()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const xml = join(dir, 'network.xml');
    writeFileSync(xml, `<network><name>${network}</name><bridge name='rhbr${process.pid % 100000}' stp='off'/></network>\n`);
    virsh('net-create', xml);
  } catch (err) {
    await stop();
    throw err;
  }
  return { uri, network, virsh, stop };
}

function virtlogdRunning(): boolean {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .some((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'virtlogd';
      } catch {
        return false;
      }
    });
}

function virshQuiet(virsh: (...a: string[]) => string, ...args: string[]): string[] {
  try {
    return virsh(...args)
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}
