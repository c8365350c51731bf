// Every example config in examples/ must stay valid as the schema grows.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, parseConfig } from '../../src/config/index.js';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');

describe('example configs', () => {
  const files = readdirSync(EXAMPLES, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(EXAMPLES, d.name, 'scaleplane.yaml'))
    .filter((f) => readdirSync(resolve(f, '..')).includes('scaleplane.yaml'));
  it('there are several', () => assert.ok(files.length >= 3, files.join(', ')));
  for (const file of files) {
    it(`${file.slice(EXAMPLES.length + 1)} is valid`, async () => {
      const config = await loadConfig(file);
      assert.ok(Object.keys(config.groups).length >= 1, 'Object.keys(config.groups).length >= 1');
    });
  }
});

it("README's configuration reference is a valid config", () => {
  const readme = readFileSync(resolve(EXAMPLES, '../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration reference'));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(yaml, 'the section has a yaml block');
  const config = parseConfig(yaml, { baseDir: '/srv/app' });
  assert.deepEqual(Object.keys(config.groups), ['web']);
});
