// What redisSecrets, clusterSecrets and redactRedisUrl read as secret, case by case: ioredis sends
// a URL's password from its userinfo or from its query (`?password=…`, URLSearchParams-decoded),
// and a Cluster seed's from the seed itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterNode } from 'ioredis';
import { clusterSecrets, redactRedisUrl, redisSecrets } from '../src/redis-secrets.js';

describe('redisSecrets: every form of a password ioredis would send', () => {
  const cases: [string, string, string[]][] = [
    ['userinfo, written and decoded', 'redis://u:p%2Fw@h:6379', ['p%2Fw', 'p/w']],
    ['query password, written and decoded', 'redis://h:6379/0?password=p%2Fw', ['p%2Fw', 'p/w']],
    ['query `+` is a space, as URLSearchParams reads it', 'redis://h/0?db=1&password=a+b', ['a+b', 'a b']],
    ['query sentinelPassword', 'redis://h/0?sentinelPassword=sp', ['sp']],
    ['fragment is not the query', 'redis://h/0?password=pw#x', ['pw']],
    ['`?password` without a value names none', 'redis://h/0?password&db=1', []],
    ['an empty value names none', 'redis://h/0?password=', []],
    ['other parameters are no secret', 'redis://h/0?family=6&username=u', []],
    ['a URL that does not parse has them too', 'redis://ho st/0?password=pw', ['pw']],
  ];
  for (const [name, url, expected] of cases)
    it(name, () => {
      assert.deepEqual(redisSecrets(url).sort(), expected.sort(), `secrets of ${url}`);
    });

  it('options add theirs, longest first', () => {
    assert.deepEqual(
      redisSecrets('redis://h/0?password=pw', { password: 'longer', sentinelPassword: '' }),
      ['longer', 'pw'],
      'secrets of the URL and the options',
    );
  });
});

describe('clusterSecrets: the seeds and the nodes options', () => {
  it('a seed URL, a seed object and redisOptions each give theirs', () => {
    // Not in ClusterNode's type, but ioredis copies every field of a seed object into its options.
    const seedObject = { host: 'c', password: 's3' };
    const nodes: ClusterNode[] = ['redis://:s1@a:7000', 'redis://b:7001/0?password=s2', 7002, seedObject];
    assert.deepEqual(
      clusterSecrets(nodes, { password: 'node-pw' }).sort(),
      ['node-pw', 's1', 's2', 's3'],
      'secrets of the seeds and of redisOptions',
    );
  });
});

describe('redactRedisUrl: passwords as ***', () => {
  for (const [url, shown] of [
    ['redis://u:pw@ho st:6379', 'redis://u:***@ho st:6379'],
    ['redis://ho st:6379/0?password=p%2Fw&db=1', 'redis://ho st:6379/0?password=***&db=1'],
    ['redis://h:6379/0', 'redis://h:6379/0'],
  ] as const)
    it(url, () => {
      assert.equal(redactRedisUrl(url), shown, `${url} as shown`);
    });
});
