// ESLint flat config. Syntax-only (no type information) so `npx eslint .` stays fast.
// Encodes the code rules of docs/architecture.md (no default exports, `import type`, `node:` prefix, no `any`)
// and its layer boundaries.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Bare Node built-in names (`fs`, `fs/promises`, …): always import them as `node:NAME`. */
const bareBuiltins = builtinModules
  .filter((name) => !name.startsWith('_') && !name.startsWith('node:'))
  .map((name) => ({ name, message: `import "node:${name}" (the node: prefix is required)` }));

/** Modules that touch the kernel, the filesystem, the network or subprocesses. */
const IO_MODULES = ['node:child_process', 'node:fs', 'node:fs/promises', 'node:net', 'node:os', 'execa'];
const PURE_MESSAGE =
  'pure code (core/, backends/, codec/, ports/) must not do I/O; take the data as an argument or go through a port (docs/architecture.md)';

/** Layers pure code may not reach into. Matched against the import specifier, so `../kernel/x.js` and `../../app/y.js` both hit. */
const IMPURE_LAYERS = ['kernel', 'store', 'lab', 'bin', 'app', 'cli'];
const layerRegex = (layers) => `(^|/)(${layers.join('|')})(/|$)`;

/**
 * The complete `no-restricted-imports` options for one group of files. Later flat-config entries replace a rule's
 * options instead of merging them, so every group states the whole list.
 */
function restrictedImports({ pure = false, lab = false, testing = false } = {}) {
  const patterns = [];
  if (testing) {
    patterns.push({
      regex: layerRegex(['testing']),
      message: 'src/testing holds test-only fakes: only tests (*.test.ts, test/) may import it',
    });
  }
  if (pure) {
    patterns.push({
      regex: layerRegex(IMPURE_LAYERS),
      message: `pure code must not import ${IMPURE_LAYERS.map((l) => `${l}/`).join(', ')} (docs/architecture.md)`,
    });
  } else if (lab) {
    patterns.push({
      regex: layerRegex(['lab']),
      message:
        'lab/ is the test and demo lab: only src/lab, src/cli, src/bin and test/ may import it (docs/architecture.md)',
    });
  }
  return [
    'error',
    {
      paths: [...bareBuiltins, ...(pure ? IO_MODULES.map((name) => ({ name, message: PURE_MESSAGE })) : [])],
      patterns,
    },
  ];
}

/** A few Node globals for the plain JavaScript files (scripts/*.mjs, this file). TypeScript checks the .ts files. */
const NODE_GLOBALS = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'URLSearchParams',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'queueMicrotask',
    'structuredClone',
    'AbortController',
    'TextEncoder',
    'TextDecoder',
    'fetch',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  { ignores: ['dist/', 'build/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: NODE_GLOBALS },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      'no-restricted-imports': restrictedImports(),
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'use named exports' },
        { selector: 'ExportNamedDeclaration > ExportSpecifier[exported.name="default"]', message: 'use named exports' },
        { selector: 'TSEnumDeclaration', message: 'use a union of string literals instead of enum' },
        { selector: 'TSModuleDeclaration[kind="namespace"]', message: 'use ES modules instead of namespace' },
      ],
    },
  },
  // Production code must not import the lab or the test fakes…
  { files: ['src/**/*.ts'], rules: { 'no-restricted-imports': restrictedImports({ lab: true, testing: true }) } },
  // …except the lab itself and the CLI (`fanctl lab …`) and its composition root.
  {
    files: ['src/lab/**', 'src/cli/**', 'src/bin/**'],
    rules: { 'no-restricted-imports': restrictedImports({ testing: true }) },
  },
  // The pure core: no I/O modules, no path into an impure layer.
  {
    files: ['src/core/**', 'src/backends/**', 'src/codec/**', 'src/ports/**'],
    rules: { 'no-restricted-imports': restrictedImports({ pure: true, testing: true }) },
  },
  // Unit tests and the fakes themselves may use the fakes.
  {
    files: ['src/**/*.test.ts', 'src/testing/**'],
    rules: { 'no-restricted-imports': restrictedImports({ lab: true }) },
  },
  {
    files: ['src/core/**/*.test.ts', 'src/backends/**/*.test.ts', 'src/codec/**/*.test.ts'],
    rules: { 'no-restricted-imports': restrictedImports({ pure: true }) },
  },
);
