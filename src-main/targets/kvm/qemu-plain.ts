/**
 * Plain QEMU on the KVM host, for hosts without libvirt: `qemu-system-x86_64` started over SSH in
 * its own session (KVM when it works there, TCG otherwise), its stderr in `<instance>.qemu.log`
 * (where a KVM failure shows), the serial console in a file, user-mode NAT, the guest agent
 * channel on a unix socket. Pid files are `<machines>/<instance>.<test|cutover>.pid`; a pid is only
 * killed while its command line still names the instance (pids are reused).
 */
import { agentSocket } from './layout.js';
import { sh } from './ssh.js';

export const QEMU = 'qemu-system-x86_64';

/** Prints `kvm` when QEMU can use KVM on the host, `tcg` otherwise. */
export const KVM_PROBE = `timeout 1.5 ${QEMU} -accel kvm -machine pc -cpu host -display none -nodefaults -m 16 -S -monitor none >/dev/null 2>&1; [ $? -eq 124 ] && echo kvm || echo tcg`;

export interface PlainMachine {
  instanceId: string;
  accel: 'kvm' | 'tcg';
  vcpus: number;
  ramMiB: number;
  disks: { path: string; format: 'raw' | 'qcow2' }[];
  consolePath: string;
  pidPath: string;
  /** QEMU's stderr. */
  logPath: string;
  mac?: string;
  /** The user-mode NAT network (QEMU's 10.0.2.0/24 when absent). */
  net?: { net: string; gateway: string; dns: string };
  /** A cloud-init NoCloud seed image, attached read-only after the disks. */
  seedPath?: string;
}

/** QEMU's arguments (each one word): disks on virtio, the NIC, the seed, the guest agent channel. */
export function plainArgs(m: PlainMachine): string[] {
  const nic = ['user', 'model=virtio-net-pci', ...(m.mac ? [`mac=${m.mac}`] : []), ...(m.net ? [`net=${m.net.net}`, `host=${m.net.gateway}`, `dns=${m.net.dns}`] : [])];
  const args = [
    '-name', `rehost-${m.instanceId}`, '-machine', 'pc', '-accel', m.accel, '-cpu', m.accel === 'kvm' ? 'host' : 'max',
    '-m', String(m.ramMiB), '-smp', String(m.vcpus), '-display', 'none', '-nodefaults', '-monitor', 'none',
    '-serial', `file:${m.consolePath}`, '-nic', nic.join(','),
  ];
  for (const d of m.disks) args.push('-drive', `file=${d.path},format=${d.format},if=virtio,cache=writeback`);
  if (m.seedPath) args.push('-drive', `file=${m.seedPath},format=raw,if=virtio,readonly=on`);
  args.push(
    '-device', 'virtio-serial-pci,id=rehost-vser0',
    '-chardev', `socket,id=rehost-qga0,path=${agentSocket(m.instanceId)},server=on,wait=off`,
    '-device', 'virtserialport,bus=rehost-vser0.0,chardev=rehost-qga0,name=org.qemu.guest_agent.0',
    '-pidfile', m.pidPath,
  );
  return args;
}

/**
 * The command that starts the machine in the background, in a session of its own, and returns
 * once QEMU wrote its pid file (or fails with QEMU's stderr when it exits first).
 */
export function plainStartCommand(m: PlainMachine, binary = QEMU): string {
  const [pid, log] = [sh(m.pidPath), sh(m.logPath)];
  return (
    `: > ${sh(m.consolePath)} && : > ${log} && rm -f ${pid} && rm -f ${sh(agentSocket(m.instanceId))} && ` +
    `{ setsid ${sh(binary)} ${plainArgs(m).map(sh).join(' ')} </dev/null >>${log} 2>&1 & } && ` +
    `for i in $(seq 100); do [ -s ${pid} ] && kill -0 "$(cat ${pid})" 2>/dev/null && exit 0; sleep 0.1; done; echo "QEMU did not start: $(tail -c 1500 ${log})" >&2; exit 1`
  );
}

/** Shell printing QEMU's last words (why the machine stopped). */
export function plainStateReport(logPath: string): string {
  return `tail -c 1500 ${sh(logPath)} 2>/dev/null`;
}

/** Shell test that succeeds while the machine runs. */
export function plainRunningTest(pidPath: string): string {
  return `kill -0 $(cat ${sh(pidPath)} 2>/dev/null) 2>/dev/null`;
}

/** Shell snippet: stops the host's plain machines (all, test boots, or one) and removes their overlay folders. */
export function plainStopScript(machinesDir: string, bootRoot: string, which: 'all' | 'test' | { id: string }): string {
  const glob = which === 'all' ? '*.pid' : which === 'test' ? '*.test.pid' : `${which.id}.*.pid`;
  return (
    `for p in ${sh(machinesDir)}/${glob}; do [ -f "$p" ] || continue; id=$(basename "$p" | cut -d. -f1); pid=$(cat "$p"); ` +
    `if tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q "rehost-$id"; then kill $pid; for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; kill -9 $pid 2>/dev/null; fi; ` +
    `rm -f "$p" /tmp/rehost-qga-"$id".sock; rm -rf ${sh(bootRoot)}/"$id"; done`
  );
}
