// Runs the tests with Node's test runner: `node test/run-tests.mjs [unit|integration|e2e] [filter]`.
// Unit tests sit beside the code (src-*/**/*.test.ts); integration and e2e tests live in test/.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const [kind = 'all', filter = ''] = process.argv.slice(2);

function find(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const groups = {
  unit: ['src-shared', 'src-main'].flatMap((d) => find(d)).concat(find('test/unit')),
  integration: find('test/integration'),
  e2e: find('test/e2e'),
};
const selected = kind === 'all' ? [...groups.unit, ...groups.integration, ...groups.e2e] : groups[kind];
if (!selected) {
  console.error(`unknown test group "${kind}" (unit, integration, e2e, all)`);
  process.exit(2);
}
const files = selected.filter((f) => f.includes(filter)).sort();
if (files.length === 0 && kind !== 'e2e') {
  console.error('no test files matched');
  process.exit(1);
}
// keytar is tested against a real keyring: without a session bus, run inside a throwaway
// D-Bus session with an unlocked gnome-keyring (test/keyring-session.sh) when the tools exist.
const hasTool = (t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status === 0;
if (!process.env.DBUS_SESSION_BUS_ADDRESS && process.platform === 'linux' && hasTool('dbus-run-session') && hasTool('gnome-keyring-daemon')) {
  const wrapped = spawnSync('bash', ['test/keyring-session.sh', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(wrapped.status ?? 1);
}
const runAll = kind === 'all' && filter === '';
// The renderer's component and store tests run under Vitest (Svelte runes need its compiler).
const renderer = runAll || (kind === 'unit' && filter === '')
  ? spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=dot'], { stdio: 'inherit' })
  : { status: 0 };
// The UI end to end: Playwright on Debian's Chromium against a real `rehost serve`.
const e2e = runAll || (kind === 'e2e' && filter === '') ? spawnSync(process.execPath, ['test/e2e/run.mjs'], { stdio: 'inherit' }) : { status: 0 };
// Node's test runner goes last, so its summary closes the output.
const args = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=900000', ...files];
const result = files.length > 0 ? spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: '' } }) : { status: 0 };
if (renderer.status || e2e.status) console.error(`renderer tests: ${renderer.status ? 'FAILED' : 'passed'}; e2e: ${e2e.status ? 'FAILED' : 'passed'}`);
process.exit(result.status || renderer.status || e2e.status || 0);
