import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeAreas } from './cbt.js';
import { vmChecks } from './checks.js';
import { faultFrom } from './vim25/faults.js';
import { parseXml, child } from './vim25/xml.js';
import { disksOf, vmFromProps, type VmInfo } from './vm-info.js';
import { hostsOf } from './vsphere-source.js';

test('changed areas are sorted and merged', () => {
  assert.deepEqual(
    mergeAreas([
      { offset: 65536, length: 65536 },
      { offset: 0, length: 65536 },
      { offset: 200000, length: 10 },
    ]),
    [
      { offset: 0, length: 131072 },
      { offset: 200000, length: 10 },
    ],
  );
});

const DEVICES = `<r xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance"><val XMLSchema-instance:type="ArrayOfVirtualDevice">
<VirtualDevice XMLSchema-instance:type="VirtualLsiLogicController"><key>1000</key></VirtualDevice>
<VirtualDevice XMLSchema-instance:type="VirtualDisk"><key>2000</key><deviceInfo><label>Hard disk 1</label></deviceInfo>
 <backing XMLSchema-instance:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds1] web/web.vmdk</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned><changeId>52 aa/3</changeId></backing>
 <controllerKey>1000</controllerKey><capacityInKB>1048576</capacityInKB><capacityInBytes>1073741824</capacityInBytes></VirtualDevice>
<VirtualDevice XMLSchema-instance:type="VirtualDisk"><key>2001</key><deviceInfo><label>Hard disk 2</label></deviceInfo>
 <backing XMLSchema-instance:type="VirtualDiskRawDiskMappingVer1BackingInfo"><fileName>[ds1] web/rdm.vmdk</fileName><diskMode>independent_persistent</diskMode></backing>
 <controllerKey>1000</controllerKey><capacityInKB>1024</capacityInKB></VirtualDevice>
<VirtualDevice XMLSchema-instance:type="VirtualVmxnet3"><key>4000</key><deviceInfo><label>Network adapter 1</label></deviceInfo>
 <backing XMLSchema-instance:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName></backing><macAddress>00:50:56:AA:BB:CC</macAddress></VirtualDevice>
</val></r>`;

test('devices: disks with backing details (vcsim type attributes), NICs with MAC and network', () => {
  const val = child(parseXml(DEVICES), 'r') as Record<string, unknown>;
  const devices = child(val, 'val');
  const disks = disksOf(devices);
  assert.equal(disks.length, 2);
  assert.deepEqual(
    { ...disks[0] },
    { key: 2000, controllerKey: 1000, label: 'Hard disk 1', capacityBytes: 1073741824, fileName: '[ds1] web/web.vmdk', datastore: 'ds1', backingType: 'VirtualDiskFlatVer2BackingInfo', diskMode: 'persistent', thin: true, changeId: '52 aa/3' },
  );
  assert.equal(disks[1]!.capacityBytes, 1024 * 1024);
  const vm = vmFromProps({ type: 'VirtualMachine', value: 'vm-1' }, new Map([
    ['name', 'web'],
    ['config.instanceUuid', 'inst-1'],
    ['config.guestId', 'ubuntu64Guest'],
    ['config.hardware.device', devices!],
  ]));
  assert.deepEqual(vm.nics, [{ label: 'Network adapter 1', mac: '00:50:56:aa:bb:cc', network: 'VM Network' }]);
  assert.equal(vm.instanceUuid, 'inst-1');
  const checks = vmChecks(vm as VmInfo);
  const disk = checks.find((c) => c.id === 'DISK_TYPES')!;
  assert.equal(disk.severity, 'ERROR');
  assert.equal(disk.code, 'DISK_RDM');
  assert.equal(checks.find((c) => c.id === 'OS_VERSION')!.severity, 'OK');
});

test('SOAP faults keep their vim25 type and the invalid property', () => {
  const doc = parseXml(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>A specified parameter was not correct: changeId</faultstring><detail><InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><invalidProperty>changeId</invalidProperty></InvalidArgumentFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`);
  const fault = child(child(child(doc, 'Envelope'), 'Body'), 'Fault') as Record<string, unknown>;
  const err = faultFrom(fault, 'QueryChangedDiskAreas');
  assert.equal(err.faultType, 'InvalidArgument');
  assert.equal(err.invalidProperty, 'changeId');
  assert.match(err.message, /QueryChangedDiskAreas: InvalidArgument/);
});

test('VMs sharing an instance uuid: one host, flagged with an ERROR check', () => {
  const vm = (name: string, ref: string) => vmFromProps({ type: 'VirtualMachine', value: ref }, new Map([['name', name], ['config.instanceUuid', 'same-uuid']]));
  const hosts = hostsOf([vm('a', 'vm-1'), vm('b', 'vm-2'), vmFromProps({ type: 'VirtualMachine', value: 'vm-3' }, new Map([['name', 'c'], ['config.instanceUuid', 'other']]))]);
  assert.equal(hosts.length, 2);
  const dup = hosts[0]!.checks.find((c) => c.id === 'DUPLICATE_UUID');
  assert.equal(dup?.severity, 'ERROR');
  assert.match(dup!.reason, /a, b share the instance uuid same-uuid/);
  assert.equal(hosts[1]!.checks.some((c) => c.id === 'DUPLICATE_UUID'), false);
});
