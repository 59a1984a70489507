// ESLint flat config. STYLE "What Rehost takes from them":
//   rule 1 (imports go one way) and rule 2 (runtime limits) as one `no-restricted-imports` block
//   per folder; a source file no folder block covers fails, like VS Code's allow-list.
//   rule 8 (sizes): a file ≤ 400 lines, a function ≤ 60 (src-main, src-shared), a component ≤ 250.
// typescript-eslint "recommended" is the non-type-checked set, to stay fast; tsc and svelte-check
// do the type checking (`npm run lint`).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { defineConfig } from 'eslint/config';
import svelteConfig from './svelte.config.js';

const SOURCES = ['**/*.{js,mjs,cjs,ts,mts,cts,svelte}'];
const TESTS = ['**/*.test.ts', 'test/**'];

// ---- Import restrictions (STYLE rules 1 and 2) ----------------------------------------------

/** A forbidden import as a regex on the import string (`paths` hold exact module names). */
const regex = (source, message) => ({ paths: [], patterns: [{ regex: source, message }] });

const NODE_BUILTINS = {
  paths: builtinModules.map((name) => ({ name, message: 'No Node built-ins here (STYLE rule 2): this code also runs outside Node.' })),
  patterns: [{ regex: '^node:', message: 'No Node built-ins here (STYLE rule 2): this code also runs outside Node.' }],
};
const ELECTRON = regex('^electron(/|$)', '`electron` is imported only in src-main/electron/ (STYLE rule 2).');
const KEYTAR = regex('^keytar(/|$)', '`keytar` is imported only in src-main/secrets/ (STYLE rule 2).');
const FASTIFY = regex('^(fastify|@fastify/)', 'No HTTP framework here (STYLE rule 2): only src-main/api/ and the composition roots use Fastify.');
const SQLJS = regex('^sql\\.js(/|$)', '`sql.js` belongs to src-main/store/ (STYLE rule 2).');
const PINO = regex('^pino(/|$)', 'No logger implementation here: take a Logger through deps (STYLE rule 10).');
const SRC_MAIN = regex('(^|/)src-main(/|$)', 'Nothing from src-main here (STYLE rule 1): share code through src-shared.');
const SRC_RENDERER = regex('(^|/)src-renderer(/|$)', 'Nothing imports the renderer (STYLE rule 1).');

/** Relative imports of these src-main folders (`../store/…`, `../../electron/…`). */
const mainFolders = (names, why) => regex(`^(\\.\\./)+(${names.join('|')})(/|$)`, why);
/** Relative imports of src-main's top-level files (`../cli.js`, `../runtime.js` …). */
const mainFiles = (names, why) => regex(`^(\\.\\./)+(${names.join('|')})(\\.[cm]?[jt]s)?$`, why);

const ROOT_FILES = ['cli', 'drivers', 'runtime', 'log', 'demo', 'demo-disk'];

/**
 * One block per folder. `files` must not overlap: a later block replaces an earlier one's
 * `no-restricted-imports` for the files both match. Tests (`*.test.ts`) beside the code keep the
 * folder's layering but may use Node built-ins (they run under `node --test`).
 */
const FOLDERS = [
  {
    name: 'src-shared',
    files: ['src-shared/**'],
    forbid: [SRC_MAIN, SRC_RENDERER, NODE_BUILTINS, ELECTRON, FASTIFY, KEYTAR, SQLJS],
  },
  {
    name: 'src-main/core',
    files: ['src-main/core/**'],
    forbid: [
      mainFolders(['store', 'api', 'sources', 'targets', 'replication', 'secrets', 'electron', 'agent'], 'core imports only src-shared and core (STYLE rule 1): drivers come in through interfaces.'),
      mainFiles(ROOT_FILES, 'core imports only src-shared and core (STYLE rule 1): the composition roots import core, not the reverse.'),
      SRC_RENDERER,
      NODE_BUILTINS,
      ELECTRON,
      FASTIFY,
      KEYTAR,
      SQLJS,
      PINO,
    ],
  },
  {
    name: 'src-main drivers, store, api, replication',
    files: ['src-main/{store,api,sources,targets,replication,fixup}/**'],
    forbid: [
      mainFolders(['electron'], 'Only the composition roots import src-main/electron (STYLE rule 1).'),
      mainFiles(['cli'], 'Only the composition roots import cli.ts (STYLE rule 1).'),
      SRC_RENDERER,
      ELECTRON,
      KEYTAR,
    ],
  },
  {
    name: 'src-main/secrets',
    files: ['src-main/secrets/**'],
    forbid: [
      mainFolders(['electron'], 'Only the composition roots import src-main/electron (STYLE rule 1).'),
      mainFiles(['cli'], 'Only the composition roots import cli.ts (STYLE rule 1).'),
      SRC_RENDERER,
      ELECTRON,
    ],
  },
  {
    name: 'src-main/electron',
    files: ['src-main/electron/**'],
    forbid: [SRC_RENDERER, KEYTAR],
  },
  {
    name: 'src-main/agent',
    files: ['src-main/agent/**'],
    forbid: [
      mainFolders(['core', 'store', 'api', 'sources', 'targets', 'secrets', 'electron'], 'The agent imports only src-shared, replication and fixup (STYLE rule 1).'),
      mainFiles(ROOT_FILES, 'The agent imports only src-shared, replication and fixup (STYLE rule 1).'),
      SRC_RENDERER,
      ELECTRON,
      FASTIFY,
      KEYTAR,
      SQLJS,
    ],
  },
  {
    name: 'src-main composition roots',
    files: ['src-main/*.{ts,js,mjs}'],
    forbid: [SRC_RENDERER, ELECTRON, KEYTAR],
  },
  {
    name: 'src-renderer',
    files: ['src-renderer/**'],
    forbid: [SRC_MAIN, NODE_BUILTINS, ELECTRON, FASTIFY, KEYTAR, SQLJS, PINO],
  },
];

/** Folders with no layering: tests, build scripts, the bin shim and root config files. */
const TOOLING = ['test/**', 'scripts/**', 'bin/**', '*.{js,mjs,cjs,ts}'];

function importRule(forbid) {
  return ['error', { paths: forbid.flatMap((f) => f.paths), patterns: forbid.flatMap((f) => f.patterns) }];
}

function importBlocks() {
  return FOLDERS.flatMap(({ name, files, forbid }) => [
    { name: `rehost/imports/${name}`, files, ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': importRule(forbid) } },
    {
      name: `rehost/imports/${name} (tests)`,
      files: files.map((f) => [f, '**/*.test.ts']),
      rules: { 'no-restricted-imports': importRule(forbid.filter((f) => f !== NODE_BUILTINS)) },
    },
  ]);
}

// ---- The config ------------------------------------------------------------------------------

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'resources/', 'test-results/', 'bench-results/', '.data/'] },

  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    name: 'rehost/svelte-typescript',
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: {
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'], svelteConfig },
    },
  },
  {
    name: 'rehost/svelte-no-undef',
    // TypeScript (svelte-check) resolves names in components, including DOM and lib types.
    files: ['**/*.svelte'],
    rules: { 'no-undef': 'off' },
  },
  {
    name: 'rehost/unused-vars',
    rules: { '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }] },
  },

  { name: 'rehost/globals/browser', files: ['src-renderer/**'], languageOptions: { globals: globals.browser } },
  { name: 'rehost/globals/node', files: ['src-main/**', ...TOOLING], languageOptions: { globals: globals.node } },

  // Imports: an uncovered file fails, then one block per folder replaces the rule for its files.
  {
    name: 'rehost/imports/uncovered',
    files: SOURCES,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '.', message: 'No import rule covers this file: add its folder to FOLDERS or TOOLING in eslint.config.js (STYLE rule 1).' }] }],
    },
  },
  ...importBlocks(),
  { name: 'rehost/imports/tooling', files: TOOLING, rules: { 'no-restricted-imports': 'off' } },

  // Sizes (STYLE rule 8); tests are exempt.
  { name: 'rehost/size/ts', files: ['**/*.ts'], rules: { 'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }] } },
  { name: 'rehost/size/svelte', files: ['**/*.svelte'], rules: { 'max-lines': ['error', { max: 250, skipBlankLines: true, skipComments: true }] } },
  {
    name: 'rehost/size/functions',
    files: ['src-main/**/*.ts', 'src-shared/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }] },
  },
  { name: 'rehost/size/tests-exempt', files: TESTS, rules: { 'max-lines': 'off', 'max-lines-per-function': 'off' } },
  // Tests read JSON answers loosely; the assertions are what check their shape.
  { name: 'rehost/tests/any', files: TESTS, rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
