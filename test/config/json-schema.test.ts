// The JSON Schema that editors and CI use must accept every config Scaleplane accepts as written
// here, and flag what it refuses that a schema can express: unknown keys, wrong types.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { configJsonSchema, parseConfig } from '../../src/config/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const validate = new Ajv2020({ allErrors: true, strict: false, validateFormats: false }).compile(
  configJsonSchema(),
);

function problems(config: unknown): string[] {
  if (validate(config)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

describe('config JSON Schema', () => {
  const examples = readdirSync(join(ROOT, 'examples'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(ROOT, 'examples', d.name, 'scaleplane.yaml'))
    .filter((f) => readdirSync(resolve(f, '..')).includes('scaleplane.yaml'));

  for (const file of examples) {
    it(`accepts ${file.slice(ROOT.length + 1)}`, () => {
      assert.deepEqual(problems(parse(readFileSync(file, 'utf8'))), []);
    });
  }

  it("accepts README's configuration reference and the DESIGN contract's example", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration reference'));
    const reference = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(reference, 'the section has a yaml block');
    assert.deepEqual(problems(parse(reference)), []);
    const contract = {
      api: { listen: '127.0.0.1:9090' },
      balancer: {
        listen: '127.0.0.1:8080',
        algorithm: 'least-connections',
        health: { path: '/healthz', interval: '1s' },
      },
      groups: {
        web: {
          provider: 'local',
          command: 'node server.js',
          port_env: 'PORT',
          min_instances: 1,
          max_instances: 5,
          scaling: { metrics: [{ cpu: { target: 80 } }] },
        },
      },
    };
    parseConfig(JSON.stringify(contract), { baseDir: '/srv/app' });
    assert.deepEqual(problems(contract), []);
  });

  it('accepts the short form', () => {
    const short = {
      command: 'node server.js',
      scaling: { min_instances: 1, max_instances: 4, threshold: 70 },
    };
    parseConfig(JSON.stringify(short), { baseDir: '/srv/app' });
    assert.deepEqual(problems(short), []);
  });

  it('flags a misspelt key where it is typed, and a wrong type', () => {
    const typo = { groups: { web: { command: 'node server.js', max_instance: 5 } } };
    assert.throws(() => parseConfig(JSON.stringify(typo), { baseDir: '/srv/app' }), /max_instance/);
    assert.ok(
      problems(typo).some(
        (p) => p.startsWith('/groups/web ') && p.includes('"additionalProperty":"max_instance"'),
      ),
      problems(typo).join('\n'),
    );
    const wrongType = { groups: { web: { command: 'node server.js', max_instances: 'five' } } };
    assert.ok(
      problems(wrongType).some((p) => p.startsWith('/groups/web/max_instances ')),
      problems(wrongType).join('\n'),
    );
  });
});
