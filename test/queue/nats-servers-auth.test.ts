// The NATS backend's `servers` with credentials in the URL (`nats://user:pass@host:4222`,
// `nats://token@host:4222`), against a nats-server of its own that wants them. The JavaScript
// client ignores credentials written in a URL: before, the queue connected without any, was
// refused ("Authorization Violation") and kept retrying until publishTimeout. They are now taken
// out as the `nats` metric source takes them (natsServers) and given as user/pass or token.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createQueue, InvalidArgumentError, type QueueOptions } from '../../src/queue/index.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { uniqueName } from './helpers.js';

describe('NATS backend given credentials in its servers URL', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  /** publishAndRun publishes one job on a queue at `servers` and resolves with what its worker got. */
  async function publishAndRun(servers: string, extra: Partial<QueueOptions> = {}): Promise<string> {
    // Only bounds how long the publish was re-sent before the fix.
    const queue = createQueue({ backend: 'nats', servers, publishTimeout: 5_000, ...extra } as QueueOptions);
    const refused: string[] = [];
    queue.on('error', () => {});
    queue.on('connection', (e: { error?: string }) => void (e.error && refused.push(e.error)));
    cleanup.push(() => queue.close());
    const name = uniqueName('auth');
    const published = await queue.publish(name, { n: 7 }).then(
      () => 'stored',
      (err: Error) => `${err.name}: ${err.message}`,
    );
    if (published !== 'stored') return `publish ${published}; connecting: ${refused[0]}`;
    const got = new Promise<unknown>((resolve) => {
      const worker = queue.worker(name, (payload) => resolve(payload));
      cleanup.push(() => worker.close());
    });
    return `publish stored, worker got ${JSON.stringify(await got)}`;
  }

  it('takes user:password from the URL (percent-decoded)', async () => {
    const port = await startNatsServer(cleanup, { flags: ['--user', 'worker', '--pass', 'p@ss:w0rd'] });
    const result = await publishAndRun(`nats://worker:p%40ss%3Aw0rd@127.0.0.1:${port}`);
    console.log(`user:password in servers: ${result}`);
    assert.equal(result, 'publish stored, worker got {"n":7}');
  });

  it('takes a token from the URL', async () => {
    const port = await startNatsServer(cleanup, { flags: ['--auth', 's3cret-token'] });
    const result = await publishAndRun(`nats://s3cret-token@127.0.0.1:${port}`);
    console.log(`token in servers: ${result}`);
    assert.equal(result, 'publish stored, worker got {"n":7}');
  });

  it('credentials given as nats options win over the URL', async () => {
    const port = await startNatsServer(cleanup, { flags: ['--user', 'worker', '--pass', 'right'] });
    const result = await publishAndRun(`nats://worker:wrong@127.0.0.1:${port}`, {
      nats: { user: 'worker', pass: 'right' },
    } as Partial<QueueOptions>);
    assert.equal(result, 'publish stored, worker got {"n":7}');
  });

  it('a list natsServers refuses is an argument error naming servers, its secret hidden', () => {
    for (const [servers, reason] of [
      ['nats://a:s3cret@127.0.0.1:4222,nats://b:other@127.0.0.1:4223', /carry different credentials/],
      ['nats://s3cret%zz@127.0.0.1:4222', /bad percent-encoding.*nats:\/\/\*\*\*@127\.0\.0\.1:4222/],
    ] as const)
      assert.throws(
        () => createQueue({ backend: 'nats', servers } as QueueOptions),
        (e: unknown) => {
          console.log(`${servers}: ${(e as Error).message}`);
          return (
            e instanceof InvalidArgumentError &&
            e.field === 'servers' &&
            reason.test(e.message) &&
            !e.message.includes('s3cret')
          );
        },
      );
  });
});
