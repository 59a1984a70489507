#!/usr/bin/env -S node --max-semi-space-size=4
// The `rehost` command: runs the built CLI (npm run build writes dist/main/cli.js). Its V8 flag
// is src-main/v8-flags.ts's (a small young generation: the engine's data lives outside the heap).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/main/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('rehost: dist/main/cli.js is missing; run `npm run build` first\n');
  process.exit(1);
}
const { main } = await import(cli);
const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
