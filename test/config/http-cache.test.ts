// balancer.cache, routes[].cache and balancer.cloudflare: defaults, and errors naming the path and line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';

const lines = (...text: string[]) => `${text.join('\n')}\n`;
const GROUP = ['groups:', '  web:', '    provider: local', '    command: node server.js'];

function issuesOf(text: string): { path: string; line: number | undefined; message: string }[] {
  try {
    parseConfig(text, { baseDir: '/srv/app' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map(({ path, line, message }) => ({ path, line, message }));
  }
  assert.fail('expected a ConfigError');
}

describe('config: HTTP cache', () => {
  it('balancer.cache: defaults for everything but what is given', () => {
    const config = parseConfig(
      lines('balancer:', '  cache: { default_ttl: 30s, max_object_size: 2Mi }', ...GROUP),
      {
        baseDir: '/srv/app',
      },
    );
    assert.deepEqual(config.balancer.cache, {
      storage: 'memory',
      keyPrefix: 'scaleplane:http:',
      maxEntries: 10_000,
      maxBytes: 64 * 1024 * 1024,
      maxObjectSize: 2 * 1024 * 1024,
      defaultTtl: 30_000,
      staleWhileRevalidate: 0,
      staleIfError: 0,
      keepStale: 60_000,
      convertHead: true,
      tagHeader: 'Cache-Tag',
      hitForMiss: 120_000,
    });
  });

  it('hit_for_miss: a duration, 0 turning it off; anything else names the field', () => {
    const cacheOf = (value: string) =>
      parseConfig(lines('balancer:', `  cache: { hit_for_miss: ${value} }`, ...GROUP), {
        baseDir: '/srv/app',
      }).balancer.cache?.hitForMiss;
    assert.equal(cacheOf('30s'), 30_000);
    assert.equal(cacheOf('0s'), 0);
    const issues = issuesOf(lines('balancer:', '  cache: { hit_for_miss: -1s }', ...GROUP));
    assert.deepEqual(
      issues.map((i) => `${i.path}:${i.line}`),
      ['balancer.cache.hit_for_miss:2'],
    );
  });

  it('lock_timeout: a positive duration, absent by default (the balancer uses its request_timeout)', () => {
    const cacheOf = (value: string) =>
      parseConfig(lines('balancer:', `  cache: { lock_timeout: ${value} }`, ...GROUP), {
        baseDir: '/srv/app',
      }).balancer.cache?.lockTimeout;
    assert.equal(cacheOf('5s'), 5_000);
    const issues = issuesOf(lines('balancer:', '  cache: { lock_timeout: 0s }', ...GROUP));
    assert.deepEqual(
      issues.map((i) => `${i.path}:${i.line}`),
      ['balancer.cache.lock_timeout:2'],
      `issues: ${JSON.stringify(issues)}`,
    );
  });

  it('routes[].cache with redis storage; cloudflare with its token file resolved against the config folder', () => {
    const config = parseConfig(
      lines(
        'balancer:',
        '  cloudflare: { zone_id: abc123, token_file: cf-token, base_url: "https://www.example.com/" }',
        'routes:',
        '  - path_prefix: /api/',
        '    group: web',
        '    cache: { storage: redis, redis_url: "redis://127.0.0.1:6379/2", tag_header: Surrogate-Key }',
        ...GROUP,
      ),
      { baseDir: '/srv/app' },
    );
    assert.equal(config.routes[0]!.cache?.storage, 'redis');
    assert.equal(config.routes[0]!.cache?.redisUrl, 'redis://127.0.0.1:6379/2');
    assert.equal(config.routes[0]!.cache?.tagHeader, 'Surrogate-Key');
    assert.deepEqual(config.balancer.cloudflare, {
      zoneId: 'abc123',
      tokenEnv: 'CLOUDFLARE_API_TOKEN',
      tokenFile: '/srv/app/cf-token',
      apiBase: 'https://api.cloudflare.com/client/v4',
      baseUrl: 'https://www.example.com',
    });
  });

  it('balancer.cache with routes is an error pointing at routes[].cache', () => {
    const issues = issuesOf(
      lines(
        'balancer:',
        '  cache: { default_ttl: 1s }',
        'routes:',
        '  - { path_prefix: /, group: web }',
        ...GROUP,
      ),
    );
    assert.deepEqual(
      issues.map((i) => `${i.path}:${i.line}`),
      ['balancer.cache:2'],
    );
    assert.match(issues[0]!.message, /give each route its own cache/);
  });

  it('errors name the path and line', () => {
    const issues = issuesOf(
      lines(
        'balancer:',
        '  cache:',
        '    storage: redis',
        '    max_bytes: lots',
        '    default_tll: 5s',
        '  cloudflare: { zone_id: "not a zone" }',
        ...GROUP,
      ),
    );
    const paths = issues.map((i) => `${i.path}:${i.line}`).sort();
    assert.deepEqual(paths, [
      'balancer.cache.default_tll:5',
      'balancer.cache.max_bytes:4',
      'balancer.cache.redis_url:2',
      'balancer.cloudflare.zone_id:6',
    ]);
    assert.match(
      issues.find((i) => i.path === 'balancer.cache.default_tll')!.message,
      /did you mean "default_ttl"/,
    );
    assert.match(
      issues.find((i) => i.path === 'balancer.cache.redis_url')!.message,
      /required for storage redis/,
    );
  });
});
