import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cloudConfig, imageProperties, userData } from './boot-guest.js';

test('cloud-init user data: root password (new and old chpasswd forms) and the key pair for root', () => {
  const text = cloudConfig({ osType: 'Linux', adminPass: 'p@ss: "x"\n#', publicKey: 'ssh-ed25519 AAAAC3Nza key@lab\n' })!;
  assert.equal(text.split('\n')[0], '#cloud-config');
  assert.ok(text.includes('disable_root: false\nusers:\n  - default\n  - name: root\n    ssh_authorized_keys:\n      - "ssh-ed25519 AAAAC3Nza key@lab"\n'), text);
  // JSON quoting is YAML double quoting: quotes, colons, newlines and # stay inside the scalar
  assert.ok(text.includes('      password: "p@ss: \\"x\\"\\n#"\n      type: text\n'), text);
  assert.ok(text.includes('  list:\n    - "root:p@ss: \\"x\\"\\n#"\n'), text);
  assert.equal(Buffer.from(userData({ osType: null, adminPass: 'a', publicKey: null })!, 'base64').toString(), cloudConfig({ osType: null, adminPass: 'a', publicKey: null }));
});

test('no user data when nothing is asked, nor for Windows (cloudbase-init reads Nova\'s admin_pass)', () => {
  assert.equal(cloudConfig({ osType: 'Linux', adminPass: null, publicKey: null }), null);
  assert.equal(cloudConfig({ osType: 'Windows', adminPass: 'x', publicKey: 'ssh-rsa AAA' }), null);
  assert.doesNotMatch(cloudConfig({ osType: 'Linux', adminPass: null, publicKey: 'ssh-rsa AAA' })!, /chpasswd/);
  assert.doesNotMatch(cloudConfig({ osType: 'Linux', adminPass: 'x', publicKey: null })!, /disable_root|authorized/);
});

test('os_type becomes the boot volume\'s image properties os_type and os_distro', () => {
  assert.deepEqual(imageProperties('Linux', 'Debian GNU/Linux 12 (bookworm)'), { os_type: 'linux', os_distro: 'debian' });
  assert.deepEqual(imageProperties('Linux', 'Red Hat Enterprise Linux 8 (64-bit)'), { os_type: 'linux', os_distro: 'rhel' });
  assert.deepEqual(imageProperties('Linux', 'CentOS 7'), { os_type: 'linux', os_distro: 'centos' });
  assert.deepEqual(imageProperties('Linux', 'SUSE Linux Enterprise 11'), { os_type: 'linux', os_distro: 'sles' });
  assert.deepEqual(imageProperties('Windows', 'Microsoft Windows Server 2012 (64-bit)'), { os_type: 'windows', os_distro: 'windows' });
  assert.deepEqual(imageProperties('Linux', 'Microsoft Windows Server 2012'), { os_type: 'linux' }, 'no distro against the asked type');
  assert.deepEqual(imageProperties('Linux', 'unknown'), { os_type: 'linux' });
  assert.deepEqual(imageProperties(null, 'Debian 12'), {});
});
