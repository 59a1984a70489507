import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addAuthorizedKeys, ifcfgFixedIp, ifupdownFixedIp, networkdFixedIp, setShadowPassword } from './guest-settings.js';

const ip = { address: '192.168.7.20', prefix: 24, gateway: '192.168.7.1', dns: '192.168.7.3' };

test('shadow: only root\'s hash changes, a second run changes nothing', () => {
  const shadow = 'root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n';
  const edit = setShadowPassword(shadow, 'root', '$6$salt$hash');
  assert.equal(edit.changed, true);
  assert.match(edit.text, /^root:\$6\$salt\$hash:\d+:0:99999:7:::$/m);
  assert.match(edit.text, /^daemon:\*:19000:/m);
  assert.equal(setShadowPassword(edit.text, 'root', '$6$salt$hash').changed, false);
});

test('authorized_keys: missing keys appended once, comments ignored when comparing', () => {
  const existing = 'ssh-ed25519 AAAAC3Nza1 old@host\n';
  const edit = addAuthorizedKeys(existing, ['ssh-ed25519 AAAAC3Nza1 other comment', 'ssh-rsa AAAAB3Nza2 ops@laptop']);
  assert.equal(edit.text, 'ssh-ed25519 AAAAC3Nza1 old@host\nssh-rsa AAAAB3Nza2 ops@laptop\n');
  assert.equal(addAuthorizedKeys(edit.text, ['ssh-rsa AAAAB3Nza2 ops@laptop']).changed, false);
  assert.equal(addAuthorizedKeys('', ['ssh-rsa AAAAB3Nza2 x']).text, 'ssh-rsa AAAAB3Nza2 x\n');
});

test('systemd-networkd: a static Address is replaced keeping its prefix; DHCP turns static', () => {
  const stat = '[Match]\nName=ens192\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n';
  const edit = networkdFixedIp(stat, ip);
  assert.match(edit.text, /^Address=192\.168\.7\.20\/24$/m);
  assert.equal(networkdFixedIp(edit.text, ip).changed, false);
  const dhcp = networkdFixedIp('[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n', ip);
  assert.match(dhcp.text, /DHCP=no/);
  assert.match(dhcp.text, /\[Network\]\nAddress=192\.168\.7\.20\/24\nGateway=192\.168\.7\.1\nDNS=192\.168\.7\.3/);
  assert.equal(networkdFixedIp(dhcp.text, ip).changed, false);
});

test('ifupdown: the interface\'s stanza gets the address, other stanzas stay', () => {
  const text = 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n    mtu 1400\n\nauto eth1\niface eth1 inet static\n    address 10.9.9.9/24\n';
  const edit = ifupdownFixedIp(text, 'eth0', ip);
  assert.match(edit.text, /iface eth0 inet static\n {4}address 192\.168\.7\.20\/24\n {4}gateway 192\.168\.7\.1\n {4}dns-nameservers 192\.168\.7\.3\n {4}mtu 1400\n\nauto eth1/);
  assert.match(edit.text, /address 10\.9\.9\.9\/24/);
  assert.equal(ifupdownFixedIp(edit.text, 'eth0', ip).changed, false);
  assert.equal(ifupdownFixedIp(text, 'eth7', ip).changed, false);
});

test('ifcfg: static with IPADDR/PREFIX/GATEWAY, NETMASK dropped', () => {
  const edit = ifcfgFixedIp('DEVICE=eth0\nBOOTPROTO=dhcp\nNETMASK=255.0.0.0\nONBOOT=yes\n', ip);
  assert.equal(edit.text, 'DEVICE=eth0\nBOOTPROTO=none\nONBOOT=yes\nIPADDR=192.168.7.20\nPREFIX=24\nGATEWAY=192.168.7.1\nDNS1=192.168.7.3\n');
  assert.equal(ifcfgFixedIp(edit.text, ip).changed, false);
});
