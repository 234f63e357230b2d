// herald.js stays small: under 5 KB minified and gzipped, with no imports.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { it } from 'node:test';
import { gzipSync } from 'node:zlib';

import { transform } from 'esbuild';

import { repoRoot } from './harness.mjs';

const LIMIT = 5 * 1024;

it(`herald.js is dependency-free and under ${LIMIT} bytes minified and gzipped`, async (t) => {
  const source = await readFile(path.join(repoRoot, 'clients', 'js', 'herald.js'), 'utf8');
  assert.doesNotMatch(source, /^\s*import\b|\bimport\(|\brequire\(/m, 'the module imports nothing');
  // esbuild only measures: the module ships as written, with no build step.
  const { code } = await transform(source, { minify: true, format: 'esm', target: 'es2022' });
  const gzipped = gzipSync(code, { level: 9 }).length;
  t.diagnostic(`herald.js: ${source.length} bytes as written, ${code.length} minified, ${gzipped} minified and gzipped`);
  assert.ok(gzipped <= LIMIT, `${gzipped} bytes minified and gzipped`);
});
