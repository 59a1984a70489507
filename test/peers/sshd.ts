/**
 * A real OpenSSH server on 127.0.0.1 for the agent tests (the recipe of
 * test/peers/sshhost/ssh-testhost.sh, run in the foreground as a child we own): a generated host
 * key, one authorized client key, password logins enabled so a wrong password is refused by sshd
 * itself. Needs root (CI runs as root) and `openssh-server`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, copyFileSync, chmodSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';

export interface Sshd {
  port: number;
  /** The client's private key (OpenSSH format), authorized for root. */
  privateKey: string;
  /** The server's host key fingerprint, `SHA256:…` as OpenSSH prints it (a new one after `restart({ newHostKey: true })`). */
  hostKey: string;
  /** The folder holding its config and keys (`authorized_keys` takes more client keys). */
  dir: string;
  stop(): Promise<void>;
  /** Stops and starts sshd again on the same port, with a freshly generated host key when asked (a reinstalled host). */
  restart(options?: { newHostKey?: boolean }): Promise<void>;
  /**
   * A host going down: the listener and every process it started (the sessions, the agents they
   * run) are killed at once. `up()` starts it again on the same port with the same keys.
   */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Pids of every process this sshd started (sessions and what they run), for a test to pick from. */
  processes(): number[];
}

export const SSHD = '/usr/sbin/sshd';

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function keygen(path: string, comment: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
}

function fingerprintOf(pubFile: string): string {
  const blob = Buffer.from(readFileSync(pubFile, 'utf8').split(' ')[1]!, 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

async function waitListening(port: number, proc: ChildProcess, log: () => string, address = '127.0.0.1'): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`sshd exited: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, address, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts sshd in `dir` on a free loopback port, or inside network namespace `netns` (one the test
 * created) on `address:port` there.
 */
export async function startSshd(dir: string, where: { netns: string; address: string; port: number } | null = null): Promise<Sshd> {
  mkdirSync(dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true });
  keygen(join(dir, 'host_key'), 'rehost-testhost');
  keygen(join(dir, 'client_key'), 'rehost-testclient');
  copyFileSync(join(dir, 'client_key.pub'), join(dir, 'authorized_keys'));
  chmodSync(join(dir, 'authorized_keys'), 0o600);
  const port = where?.port ?? (await freePort());
  const config = [
    `Port ${port}`,
    `ListenAddress ${where?.address ?? '127.0.0.1'}`,
    `HostKey ${join(dir, 'host_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication yes',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin yes',
    'StrictModes no',
    'UsePAM no',
    'PrintMotd no',
    'MaxStartups 64:30:128',
    'MaxSessions 64',
    'Subsystem sftp internal-sftp',
    'LogLevel INFO',
  ].join('\n');
  writeFileSync(join(dir, 'sshd_config'), `${config}\n`);
  let proc: ChildProcess;
  let exited: Promise<void>;
  let log = '';
  const spawnSshd = async () => {
    const args = ['-D', '-e', '-f', join(dir, 'sshd_config')];
    proc = where === null ? spawn(SSHD, args, { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn('ip', ['netns', 'exec', where.netns, SSHD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
    exited = new Promise<void>((r) => proc.once('exit', () => r()));
    await waitListening(port, proc, () => log, where?.address);
  };
  const stopNow = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  };
  await spawnSshd();
  const sshd: Sshd = {
    port,
    dir,
    privateKey: readFileSync(join(dir, 'client_key'), 'utf8'),
    hostKey: fingerprintOf(join(dir, 'host_key.pub')),
    stop: stopNow,
    async restart(options = {}) {
      await stopNow();
      if (options.newHostKey) {
        rmSync(join(dir, 'host_key'), { force: true });
        rmSync(join(dir, 'host_key.pub'), { force: true });
        keygen(join(dir, 'host_key'), 'rehost-testhost-rekeyed');
        sshd.hostKey = fingerprintOf(join(dir, 'host_key.pub'));
      }
      await spawnSshd();
    },
    async down() {
      const pids = [...descendantsOf(proc.pid!), proc.pid!];
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    },
    up: spawnSshd,
    processes: () => descendantsOf(proc.pid!),
  };
  return sshd;
}

/** Every process below `root` (children, their children …), from /proc. */
function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command may hold spaces and parentheses: the fields after its closing ')' are fixed.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent !== pid) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

/** A real unprivileged user on this machine for the sudo tests, removed again by `remove()`. */
export interface TestUser {
  name: string;
  password: string;
  uid: number;
  home: string;
  remove(): void;
}

/**
 * How the user may use sudo: `nopasswd` (a NOPASSWD rule), `password` (a rule that asks for the
 * password, which `sudo -n` refuses) or `none` (no rule).
 */
export type SudoRule = 'nopasswd' | 'password' | 'none';

/**
 * Creates a user with a unique name, a home folder and a password (sshd without PAM refuses
 * locked accounts, so the password is also how the tests log in), with its sudoers.d drop-in.
 * `shell` replaces /bin/bash as the login shell (a wrapper that changes PATH, say). Needs root.
 */
export function createTestUser(sudo: SudoRule, shell = '/bin/bash'): TestUser {
  const name = `rehost-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  const dropIn = `/etc/sudoers.d/rehost-test-${name.replace(/[^a-z0-9-]/g, '')}`;
  execFileSync('useradd', ['--create-home', '--shell', shell, '--comment', 'Rehost test user', name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const remove = () => {
    rmSync(dropIn, { force: true });
    // Whatever a failed test left in the shared temp folders under this user's uid (uids are reused).
    for (const dir of ['/tmp', '/var/tmp']) {
      for (const n of readdirSync(dir)) if (n.startsWith('rehost-') && statSync(join(dir, n), { throwIfNoEntry: false })?.uid === uid) rmSync(join(dir, n), { recursive: true, force: true });
    }
    try {
      execFileSync('userdel', ['--force', '--remove', name], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  };
  try {
    execFileSync('chpasswd', { input: `${name}:${password}\n` });
    if (sudo !== 'none') {
      writeFileSync(dropIn, `${name} ALL=(root) ${sudo === 'nopasswd' ? 'NOPASSWD: ' : ''}ALL\n`, { mode: 0o440 });
      execFileSync('visudo', ['-c', '-q', '-f', dropIn]);
    }
    const home = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':')[5]!;
    return { name, password, uid, home, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Everything under `dir`, with sizes of files, so a left-over file is seen. */
export function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      out.push(`${relative(dir, p)}${st.isDirectory() ? '/' : ` ${st.size}`}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** What the user owns under /tmp and /var/tmp, and their home: the host as Rehost may touch it. */
export function userFiles(user: TestUser): string[] {
  const tmp = ['/tmp', '/var/tmp'].flatMap((d) => readdirSync(d).filter((n) => statSync(join(d, n), { throwIfNoEntry: false })?.uid === user.uid).map((n) => join(d, n)));
  return [...tmp, ...listing(user.home)];
}
