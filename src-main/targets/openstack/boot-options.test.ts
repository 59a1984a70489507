import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RehostError } from '../../../src-shared/errors.js';
import { ipInCidr, parseBootOptions } from './boot-options.js';

const base = { flavor_id: '1', network_id: 'net-1' };

function refuses(options: Record<string, unknown>, field: string, text: RegExp): void {
  assert.throws(() => parseBootOptions(options), (e: unknown) => {
    assert.ok(RehostError.is(e, 'VALIDATION'), String(e));
    assert.equal(e.context.field, field);
    assert.match(e.message, text);
    return true;
  });
}

test('boot options: seed strings are read; "" means not set; defaults apply', () => {
  const o = parseBootOptions({ ...base, fixed_ip: '', keypair_id: '', flavor_ram: '1', flavor_vcpus: '2', availability_zone_name: 'nova', os_type: 'Linux' });
  assert.equal(o.fixedIp, null);
  assert.equal(o.keypairId, null);
  assert.equal(o.flavorRamMiB, 1024);
  assert.equal(o.flavorVcpus, 2);
  assert.equal(o.availabilityZone, 'nova');
  assert.equal(o.projectDomainId, 'default');
  assert.equal(o.user, null);
  assert.equal(o.timeoutMs, 600_000);
  const custom = parseBootOptions({ ...base, project_name: 'p', user_name: 'u', user_password: ' pass word ', boot_timeout_seconds: 30 });
  assert.deepEqual(custom.user, { userName: 'u', userDomainId: 'default', password: ' pass word ' });
  assert.equal(custom.timeoutMs, 30_000);
});

test('boot options: bad values and combinations name the field and never echo a password', () => {
  refuses({ ...base, os_type: 'BeOS' }, 'boot.os_type', /Linux or Windows/);
  refuses({ ...base, fixed_ip: '10.0.0.300' }, 'boot.fixed_ip', /not an IP address/);
  refuses({ ...base, floating_ip_id: 'f', floating_network_id: 'n' }, 'boot.floating_network_id', /not both/);
  refuses({ ...base, flavor_ram: 'lots' }, 'boot.flavor_ram', /positive number/);
  refuses({ ...base, flavor_vcpus: '1.5' }, 'boot.flavor_vcpus', /whole number/);
  refuses({ network_id: 'n' }, 'boot.flavor_id', /flavor is required/);
  refuses({ flavor_id: '1' }, 'boot.network_id', /network to boot on is required/);
  refuses({ ...base, project_name: 'p', user_password: 'Sekr1t!' }, 'boot.user_name', /go together/);
  refuses({ ...base, user_name: 'u', user_password: 'Sekr1t!' }, 'boot.project_name', /custom user needs the project/);
  refuses({ ...base, boot_timeout_seconds: -1 }, 'boot.boot_timeout_seconds', /positive/);
  try {
    parseBootOptions({ ...base, project_name: 'p', user_password: 'Sekr1t!' });
  } catch (e) {
    assert.doesNotMatch(String(e), /Sekr1t/);
  }
});

test('ipInCidr: IPv4 and IPv6 prefixes', () => {
  assert.equal(ipInCidr('10.78.0.50', '10.78.0.0/24'), true);
  assert.equal(ipInCidr('10.78.1.50', '10.78.0.0/24'), false);
  assert.equal(ipInCidr('10.78.1.50', '10.78.0.0/16'), true);
  assert.equal(ipInCidr('2001:db8::5', '2001:db8::/64'), true);
  assert.equal(ipInCidr('2001:db9::5', '2001:db8::/32'), false);
  assert.equal(ipInCidr('10.0.0.1', '2001:db8::/64'), false);
  assert.equal(ipInCidr('not-an-ip', '10.0.0.0/8'), false);
});
