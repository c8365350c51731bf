// A failed NGINX sync is retried with capped exponential backoff until it succeeds, with no
// membership change. Real shell commands stand in for nginx here: `test -f FLAG` is the test
// command, so removing or creating the flag file makes the test fail or pass.
// test/integration/balancer-nginx.test.ts does the same against a real nginx.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BackendInstance } from '../../src/balancer/index.js';
import {
  DEFAULT_NGINX_RETRY,
  NginxDriver,
  type NginxRetry,
  type NginxSync,
  nginxRetryDelay,
  runShell,
} from '../../src/balancer/nginx/index.js';

describe('nginxRetryDelay', () => {
  const cases: { attempt: number; random: number; want: number }[] = [
    { attempt: 1, random: 0, want: 500 },
    { attempt: 1, random: 0.5, want: 750 },
    { attempt: 2, random: 0, want: 1000 },
    { attempt: 5, random: 0, want: 8000 },
    // 16 s doubled is 32 s: capped at 30 s, jitter within the cap.
    { attempt: 6, random: 0, want: 15_000 },
    { attempt: 6, random: 0.999_999, want: 30_000 },
    { attempt: 1e9, random: 0.999_999, want: 30_000 },
    { attempt: 0, random: 0, want: 500 },
  ];
  for (const c of cases) {
    it(`attempt ${c.attempt}, random ${c.random} → ${c.want} ms`, () => {
      assert.equal(
        nginxRetryDelay(c.attempt, DEFAULT_NGINX_RETRY, () => c.random),
        c.want,
      );
    });
  }
});

/**
 * nextRetry resolves with the driver's next `retry` event. Not `events.once`: that rejects on the
 * `error` event each failure also emits.
 */
function nextRetry(driver: NginxDriver): Promise<NginxRetry> {
  return new Promise((resolve) => driver.once('retry', resolve));
}

/** nextSync resolves with the driver's next `synced` event, whatever fails before it. */
function nextSync(driver: NginxDriver): Promise<NginxSync> {
  return new Promise((resolve) => driver.once('synced', resolve));
}

describe('NginxDriver retries a failed sync', () => {
  const dirs: string[] = [];
  const drivers: NginxDriver[] = [];
  after(async () => {
    for (const d of drivers) await d.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /** setup makes a driver whose test passes once `testOk` exists and whose reload passes once `reloadOk` does. */
  async function setup(retry: { initial: number; max: number }) {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-nginx-retry-'));
    dirs.push(dir);
    const testOk = join(dir, 'test-ok');
    const reloadOk = join(dir, 'reload-ok');
    const include = join(dir, 'upstreams.conf');
    const commands: string[] = [];
    const driver = new NginxDriver({
      config: {
        includeFile: include,
        testCommand: `test -f ${testOk}`,
        reloadCommand: `test -f ${reloadOk}`,
        debounce: 0,
        method: 'least_conn',
        keepalive: 8,
        maxFails: 3,
        failTimeout: 10_000,
      },
      run: (command) => {
        commands.push(command === `test -f ${testOk}` ? 'test' : 'reload');
        return runShell(command);
      },
      retry,
      random: () => 0,
    });
    drivers.push(driver);
    return { driver, testOk, reloadOk, include, commands };
  }

  const web: BackendInstance[] = [{ id: 'w1', address: '127.0.0.1:4001', state: 'ready' }];

  it('backs off 1×, 2×, 4× up to the cap, then converges with no change once the cause is gone', async () => {
    const { driver, testOk, reloadOk, include } = await setup({ initial: 20, max: 80 });
    await writeFile(reloadOk, '');
    const retries: NginxRetry[] = [];
    driver.on('retry', (r) => retries.push(r));
    driver.update('web', web);
    while (retries.length < 4) await nextRetry(driver);
    assert.deepEqual(
      retries.slice(0, 4).map((r) => [r.attempt, r.delay, r.error.code]),
      [
        [1, 10, 'NGINX_TEST_FAILED'],
        [2, 20, 'NGINX_TEST_FAILED'],
        [3, 40, 'NGINX_TEST_FAILED'],
        [4, 40, 'NGINX_TEST_FAILED'],
      ],
    );
    await assert.rejects(readFile(include, 'utf8'), { code: 'ENOENT' }, 'a failed test leaves no file');
    const synced = nextSync(driver);
    await writeFile(testOk, '');
    const sync = await synced;
    assert.equal(sync.reloaded, true);
    assert.ok(sync.failedAttempts >= 4, `failedAttempts ${sync.failedAttempts}`);
    assert.equal(await readFile(include, 'utf8'), driver.render());
    assert.equal(driver.pendingRetry, undefined);

    // Success reset the backoff: the next failure waits the initial delay again.
    await rm(testOk);
    driver.update('web', []);
    const [retry] = [await nextRetry(driver)];
    assert.deepEqual([retry.attempt, retry.delay], [1, 10]);
  });

  it('retries a failed reload although the file already holds the text: every retry tests and reloads', async () => {
    const { driver, testOk, reloadOk, commands } = await setup({ initial: 10, max: 10 });
    await writeFile(testOk, '');
    driver.update('web', web);
    let [retry] = [await nextRetry(driver)];
    while (retry.attempt < 3) [retry] = [await nextRetry(driver)];
    assert.equal(retry.error.code, 'NGINX_RELOAD_FAILED');
    assert.deepEqual(commands.slice(0, 6), ['test', 'reload', 'test', 'reload', 'test', 'reload']);
    const synced = nextSync(driver);
    await writeFile(reloadOk, '');
    const sync = await synced;
    assert.equal(sync.reloaded, true);
    assert.ok(sync.failedAttempts >= 3, `failedAttempts ${sync.failedAttempts}`);
  });

  it('a change supersedes a pending retry, and syncs at once', async () => {
    const { driver, testOk, reloadOk } = await setup({ initial: 120_000, max: 120_000 });
    await writeFile(reloadOk, '');
    driver.update('web', web);
    const [retry] = [await nextRetry(driver)];
    assert.equal(retry.delay, 60_000);
    assert.deepEqual(driver.pendingRetry, { attempt: 1, delay: 60_000 });
    await writeFile(testOk, '');
    const synced = nextSync(driver);
    driver.update('web', [...web, { id: 'w2', address: '127.0.0.1:4002', state: 'ready' }]);
    assert.equal(driver.pendingRetry, undefined, 'the change cancelled the retry');
    // Without the change the retry would come after 60 s, past this test's timeout.
    const sync = await synced;
    assert.deepEqual([sync.reloaded, sync.failedAttempts], [true, 1]);
  });

  it('close cancels a pending retry; a flush after a failure runs at once and is forced', async () => {
    const { driver, testOk, reloadOk, commands } = await setup({ initial: 120_000, max: 120_000 });
    await writeFile(testOk, '');
    driver.update('web', web);
    await nextRetry(driver);
    assert.notEqual(driver.pendingRetry, undefined);
    await writeFile(reloadOk, '');
    const sync = await driver.flush();
    assert.deepEqual([sync.reloaded, sync.failedAttempts], [true, 1]);
    assert.deepEqual(commands, ['test', 'reload', 'test', 'reload']);

    await rm(reloadOk);
    driver.update('web', []);
    await nextRetry(driver);
    assert.notEqual(driver.pendingRetry, undefined);
    await driver.close();
    await driver.close();
    assert.equal(driver.pendingRetry, undefined);
    driver.update('web', web);
    assert.equal(driver.pendingRetry, undefined, 'a closed driver schedules nothing');
  });

  it('rejects retry bounds that would spin or make no sense', () => {
    const config = {
      includeFile: '/tmp/x.conf',
      testCommand: 'true',
      reloadCommand: 'true',
      debounce: 0,
      method: 'least_conn' as const,
      keepalive: 8,
      maxFails: 3,
      failTimeout: 10_000,
    };
    assert.throws(() => new NginxDriver({ config, retry: { initial: 0 } }), {
      code: 'BALANCER_INVALID_ARGUMENT',
    });
    assert.throws(() => new NginxDriver({ config, retry: { initial: 2000, max: 1000 } }), {
      code: 'BALANCER_INVALID_ARGUMENT',
    });
  });
});
