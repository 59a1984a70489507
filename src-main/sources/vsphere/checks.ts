/** Environment checks for a VM (seed 002 style: data with a code, a reason and params). Pure. */
import type { EnvCheck } from '../../core/model.js';
import { OWN_SNAPSHOT_PREFIX, osTypeOf, type VmInfo } from './vm-info.js';

function check(id: string, severity: EnvCheck['severity'], code: string, reason: string, params: EnvCheck['params'] = {}): EnvCheck {
  return { id, ok: severity !== 'ERROR', severity, code, reason, params };
}

/** CBT needs virtual hardware 7 or later. */
function cbtCheck(vm: VmInfo): EnvCheck {
  const hw = Number(/^vmx-(\d+)$/.exec(vm.hwVersion)?.[1] ?? '0');
  if (hw !== 0 && hw < 7) {
    return check('CBT_AVAILABLE', 'WARN', 'CBT_UNSUPPORTED_HARDWARE', `virtual hardware ${vm.hwVersion} has no changed block tracking: every sync reads the whole disks`, { hw_version: vm.hwVersion });
  }
  return vm.cbtEnabled
    ? check('CBT_AVAILABLE', 'OK', 'OK', 'changed block tracking is enabled', { cbt: true })
    : check('CBT_AVAILABLE', 'OK', 'CBT_WILL_BE_ENABLED', 'changed block tracking is off; the first sync turns it on', { cbt: false });
}

function diskChecks(vm: VmInfo): EnvCheck[] {
  const bad = vm.disks.filter((d) => /RawDiskMapping/.test(d.backingType) || d.diskMode.startsWith('independent'));
  if (vm.disks.length === 0) return [check('DISK_TYPES', 'ERROR', 'NO_DISKS', 'the VM has no virtual disks to copy')];
  if (bad.length === 0) return [check('DISK_TYPES', 'OK', 'OK', `${vm.disks.length} virtual disk(s), all can be snapshotted`, { disks: vm.disks.length })];
  return bad.map((d) => {
    const rdm = /RawDiskMapping/.test(d.backingType);
    const why = rdm ? 'is a raw device mapping (RDM)' : `is in ${d.diskMode} mode`;
    return check('DISK_TYPES', 'ERROR', rdm ? 'DISK_RDM' : 'DISK_INDEPENDENT', `disk ${d.label || d.key} ${why}: VMware snapshots skip it, so it cannot be copied agentlessly`, {
      disk: d.label || String(d.key),
      file: d.fileName,
    });
  });
}

function guestCheck(vm: VmInfo): EnvCheck {
  const os = osTypeOf(vm);
  const params = { guest_id: vm.guestId, guest_family: vm.guestFamily };
  if (os !== 'Unknown') return check('OS_VERSION', 'OK', 'OK', `${vm.guestFullName || vm.guestId} is supported`, params);
  if (/darwin|solaris|netware|freebsd|os2|dos|win31|eComStation/i.test(vm.guestId)) {
    return check('OS_VERSION', 'ERROR', 'OS_UNSUPPORTED', `${vm.guestFullName || vm.guestId} is not supported: only Linux and Windows guests are migrated`, params);
  }
  return check('OS_VERSION', 'WARN', 'OS_NOT_DETECTED', `guest OS ${vm.guestId || 'unknown'} is not recognised; the disks are copied without OS-specific fixes`, params);
}

/** The checks for one VM, in the order the UI lists them. */
export function vmChecks(vm: VmInfo): EnvCheck[] {
  const out = [cbtCheck(vm)];
  const theirs = vm.snapshots.filter((s) => !s.name.startsWith(OWN_SNAPSHOT_PREFIX));
  out.push(
    theirs.length === 0
      ? check('SNAPSHOTS', 'OK', 'OK', 'no snapshots present', { snapshots: 0 })
      : check(
          'SNAPSHOTS',
          'ERROR',
          'SNAPSHOTS_PRESENT',
          `${theirs.length} snapshot(s) present (${theirs.map((s) => s.name).join(', ')}): their delta disks cannot be read over the datastore endpoint; delete or consolidate them before syncing`,
          { snapshots: theirs.length },
        ),
  );
  out.push(...diskChecks(vm));
  out.push(guestCheck(vm));
  out.push(
    vm.powerState !== 'poweredOn' || vm.toolsRunning
      ? check('QUIESCE', 'OK', 'OK', vm.powerState === 'poweredOn' ? 'VMware Tools run: snapshots are quiesced' : 'the VM is off: its disks are consistent', { power_state: vm.powerState })
      : check('QUIESCE', 'WARN', 'TOOLS_NOT_RUNNING', 'VMware Tools are not running: snapshots are crash-consistent', { power_state: vm.powerState }),
  );
  return out;
}

/** A second VM with the same instance uuid: the seed refuses registering either ambiguously. */
export function duplicateUuidCheck(uuid: string, names: string[]): EnvCheck {
  return check('DUPLICATE_UUID', 'ERROR', 'DUPLICATE_UUID', `VMs ${names.join(', ')} share the instance uuid ${uuid}; give one a new uuid before migrating`, { uuid });
}
