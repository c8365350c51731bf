// `scale_timeout`: the longest wait for a scale of an aws or kubernetes group, in YAML.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue, parseConfig } from '../../src/config/index.js';

function issuesOf(yaml: string): ConfigIssue[] {
  try {
    parseConfig(yaml, { baseDir: '/srv/app' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

const AWS = ['groups:', '  web:', '    provider: aws', '    auto_scaling_group: web-asg'];
const KUBE = ['groups:', '  web:', '    provider: kubernetes', '    name: web'];
const yaml = (head: string[], ...more: string[]) => `${[...head, ...more].join('\n')}\n`;

describe('config: scale_timeout', () => {
  it('is a duration for aws and kubernetes, in ms; absent, the provider keeps its default', () => {
    const cases: [string, string, number | undefined][] = [
      ['aws 45m', yaml(AWS, '    scale_timeout: 45m'), 2_700_000],
      ['aws 90s', yaml(AWS, '    scale_timeout: 90s'), 90_000],
      ['aws absent', yaml(AWS), undefined],
      ['kubernetes 2m', yaml(KUBE, '    scale_timeout: 2m'), 120_000],
      ['kubernetes absent', yaml(KUBE), undefined],
    ];
    for (const [name, text, want] of cases) {
      const provider = parseConfig(text, { baseDir: '/srv/app' }).groups.web!.provider;
      assert.equal((provider as { scaleTimeout?: number }).scaleTimeout, want, name);
    }
  });

  it('bad input is an error naming groups.web.scale_timeout and its line', () => {
    for (const value of ['0s', '-5s', 'soon', '[]']) {
      for (const head of [AWS, KUBE]) {
        const issues = issuesOf(yaml(head, `    scale_timeout: ${value}`));
        assert.deepEqual(
          issues.map(({ path, line }) => ({ path, line })),
          [{ path: 'groups.web.scale_timeout', line: 5 }],
          `${head[2]} scale_timeout: ${value}`,
        );
      }
    }
  });

  it('belongs to aws and kubernetes, not to a local group', () => {
    const issues = issuesOf(yaml(['groups:', '  web:', '    command: node app.js'], '    scale_timeout: 5m'));
    assert.deepEqual(
      issues.map(({ path, line }) => ({ path, line })),
      [{ path: 'groups.web.scale_timeout', line: 4 }],
    );
    assert.match(issues[0]!.message, /^belongs to provider kubernetes or aws, not local$/);
  });
});
