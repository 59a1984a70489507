/**
 * Plain QEMU on the KVM host, for hosts without libvirt: `qemu-system-x86_64 -daemonize -pidfile`
 * started over SSH (KVM when it works there, TCG otherwise), the serial console in a file, user-mode
 * NAT. Pid files are `<machines>/<instance>.<test|cutover>.pid`; a pid is only killed while its
 * command line still names the instance (pids are reused).
 */
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
}

/** The command that starts the machine in the background. */
export function plainStartCommand(m: PlainMachine): string {
  const drives = m.disks.map((d) => `-drive ${sh(`file=${d.path},format=${d.format},if=virtio,cache=writeback`)}`).join(' ');
  return (
    `: > ${sh(m.consolePath)} && ${QEMU} -name rehost-${m.instanceId} -machine pc -accel ${m.accel} -cpu ${m.accel === 'kvm' ? 'host' : 'max'} ` +
    `-m ${m.ramMiB} -smp ${m.vcpus} -display none -nodefaults -monitor none -serial ${sh(`file:${m.consolePath}`)} -nic user,model=virtio-net-pci ${drives} ` +
    `-daemonize -pidfile ${sh(m.pidPath)}`
  );
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
    `rm -f "$p"; rm -rf ${sh(bootRoot)}/"$id"; done`
  );
}
