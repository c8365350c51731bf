// A live stream (/api/scalability/stream) whose client stops reading is closed once it falls more
// than api's stream buffer behind, instead of the server queueing every event for it. Real HTTP on
// 127.0.0.1; the client is a raw TCP connection that never reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTooFarBehind } from '../../src/api/stream.js';
import { type ApiHarness, READ_TOKEN, startApi } from '../helpers/api-harness.js';
import { openSilent } from '../helpers/raw-http.js';
import { until } from '../helpers/until.js';

const LIMIT = 64 * 1024;
const REQUEST = `GET /api/scalability/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${READ_TOKEN}\r\n\r\n`;

/** flood appends `count` journal entries (~300 bytes of event each), yielding now and then. */
async function flood(api: ApiHarness, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    api.journal.append(
      {
        group: 'web',
        source: 'api',
        before: 1,
        after: 2,
        reasons: ['ManualScale'],
        message: `scaled by hand, entry ${i} `.padEnd(200, '.'),
        inputs: {},
      },
      Date.now(),
    );
    if (i % 1_000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('live stream backpressure', () => {
  it('closes a stream whose client never reads once it is a buffer behind, and logs it once', async (t) => {
    const warnings: { obj: Record<string, unknown>; msg: string | undefined }[] = [];
    const api = await startApi({
      server: {
        streamBufferBytes: LIMIT,
        maxStreamsPerToken: 1,
        logger: { warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }) },
      },
    });
    t.after(api.close);
    const silent = await openSilent(api.port, REQUEST);
    t.after(() => silent.destroy());
    // The stream is open (its slot taken) before the flood starts.
    await until(
      async () =>
        (await api.call('/api/scalability/stream?group=nope', { token: READ_TOKEN })).status === 429,
    );
    // ~60 MB of events: far more than the kernel's socket buffers on both ends (a few MiB) hold.
    // Before the fix, the server queued all of it for this one client (~120 MiB of RSS for 200,000 entries).
    await flood(api, 200_000);
    const closed = warnings.filter((w) => /live stream closed/.test(w.msg ?? ''));
    assert.equal(closed.length, 1, 'one warning for the slow stream');
    const buffered = closed[0]!.obj.buffered as number;
    assert.equal(closed[0]!.obj.limit, LIMIT);
    // Bounded: the limit, the hello allowance and the one event that crossed it.
    assert.ok(buffered > LIMIT && buffered < LIMIT + 64 * 1024, `buffered ${buffered}`);
    // The client, reading at last, gets what the kernel held and then the end of the connection.
    const { bytes, closed: ended } = await silent.drain();
    assert.ok(ended, 'the server closed the connection');
    assert.ok(bytes < 200_000 * 300, `received ${bytes} bytes, not the whole flood`);
    // Its slot is free again: a reconnect (what EventSource does) gets a fresh stream.
    await until(
      async () =>
        (await api.call('/api/scalability/stream?group=nope', { token: READ_TOKEN })).status === 404,
    );
  });

  it('keeps a stream that is behind by less than the limit', async (t) => {
    const warnings: unknown[] = [];
    const api = await startApi({
      server: { streamBufferBytes: LIMIT, logger: { warn: (obj) => warnings.push(obj) } },
    });
    t.after(api.close);
    const silent = await openSilent(api.port, REQUEST);
    t.after(() => silent.destroy());
    await until(() => api.journal.listenerCount('entry') > 0, 10_000, 'stream subscribed');
    await flood(api, 100); // ~30 KB: the kernel takes it, nothing is queued in the server
    assert.deepEqual(warnings, []);
  });

  it('isTooFarBehind: the hello is allowed on top of the limit', () => {
    const cases: [buffered: number, hello: number, limit: number, behind: boolean][] = [
      [0, 0, 100, false],
      [100, 0, 100, false],
      [101, 0, 100, true],
      [150, 50, 100, false],
      [151, 50, 100, true],
    ];
    for (const [buffered, hello, limit, behind] of cases)
      assert.equal(isTooFarBehind(buffered, hello, limit), behind, `${buffered}/${hello}/${limit}`);
  });
});
