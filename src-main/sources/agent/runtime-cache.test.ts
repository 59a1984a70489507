/** The runtime cache's paths and the pre-push glibc parse, without a host (the integration tests use a real one). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removeCacheCommand, runtimeCacheRoot } from './runtime-cache.js';
import { parseLibc } from './session.js';

test('root caches under /var/tmp, other users under their home', () => {
  assert.equal(runtimeCacheRoot({ uid: 0, home: '/root' }), '/var/tmp/rehost-runtime');
  assert.equal(runtimeCacheRoot({ uid: 1001, home: '/home/ann/' }), '/home/ann/.cache/rehost/runtime');
  assert.throws(() => runtimeCacheRoot({ uid: 1001, home: '' }), /no home folder/);
  assert.equal(removeCacheCommand({ uid: 0, home: '/root' }), `rm -rf '/var/tmp/rehost-runtime'`);
  assert.equal(removeCacheCommand({ uid: 7, home: "/home/o'neil" }), `rm -rf '/home/o'\\''neil/.cache/rehost/runtime' && { rmdir '/home/o'\\''neil/.cache/rehost' 2>/dev/null; rmdir '/home/o'\\''neil/.cache' 2>/dev/null; true; }`);
});

test('glibc version from getconf or ldd; musl is none', () => {
  assert.equal(parseLibc('glibc 2.36'), '2.36');
  assert.equal(parseLibc('ldd (Debian GLIBC 2.36-9+deb12u4) 2.36'), '2.36');
  assert.equal(parseLibc('ldd (GNU libc) 2.17'), '2.17');
  assert.equal(parseLibc('musl libc (x86_64)'), null);
  assert.equal(parseLibc(''), undefined);
});
