// Live streams (/api/scalability/stream) are capped per token and in all: a read token cannot hold
// any number of connections open. Real HTTP on 127.0.0.1.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';

// Every open stream's Response is kept referenced until the test ends: undici cancels the body of
// a Response that is garbage-collected unread, which closes the stream and frees its slot (seen on
// a busy machine: the 11th of 11 streams got 200).

describe('live stream limits', () => {
  it('429 with the limit named past max_streams_per_token and max_streams', async (t) => {
    const api = await startApi({ server: { maxStreamsPerToken: 2, maxStreams: 3 } });
    const aborts: AbortController[] = [];
    const held: Response[] = [];
    t.after(async () => {
      for (const a of aborts) a.abort();
      held.length = 0; // referenced here, so alive until the end
      await api.close();
    });
    /** open starts a stream and resolves once its head arrived (the slot is taken by then). */
    const open = async (token: string) => {
      const abort = new AbortController();
      aborts.push(abort);
      const res = await fetch(`${api.base}/api/scalability/stream`, {
        headers: { authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
      held.push(res);
      return { res, abort };
    };
    const first = await open(READ_TOKEN);
    assert.equal(first.res.status, 200);
    assert.equal((await open(READ_TOKEN)).res.status, 200);
    const third = await open(READ_TOKEN);
    assert.equal(third.res.status, 429);
    assert.deepEqual(await third.res.json(), {
      error:
        'too many live streams for token "dashboards": 2 open, api.max_streams_per_token is 2; close one and retry',
    });
    // Another token has its own share, up to the global cap.
    assert.equal((await open(TOKEN)).res.status, 200);
    const fourth = await open(TOKEN);
    assert.equal(fourth.res.status, 429);
    assert.deepEqual(await fourth.res.json(), {
      error: 'too many live streams: 3 open, api.max_streams is 3; retry later',
    });
    // HEAD holds nothing open, so it is answered even at the cap.
    const head = await fetch(`${api.base}/api/scalability/stream`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${READ_TOKEN}` },
    });
    assert.equal(head.status, 200);
    // Other reads are not limited by open streams.
    assert.equal((await api.call('/api/scalability/groups', { token: READ_TOKEN })).status, 200);
  });

  it('a stream the client closes frees its slot', async (t) => {
    const api = await startApi({ server: { maxStreamsPerToken: 1 } });
    const aborts: AbortController[] = [];
    t.after(async () => {
      for (const a of aborts) a.abort();
      await api.close();
    });
    const open = () => {
      const abort = new AbortController();
      aborts.push(abort);
      return fetch(`${api.base}/api/scalability/stream`, {
        headers: { authorization: `Bearer ${READ_TOKEN}` },
        signal: abort.signal,
      });
    };
    assert.equal((await open()).status, 200);
    aborts[0]!.abort();
    // The slot comes back once the server sees the close: retried on each answer (bounded), never
    // after a sleep.
    let status = 0;
    for (let tries = 0; tries < 500 && status !== 200; tries++) {
      const again = await open();
      status = again.status;
      if (status !== 200) await again.arrayBuffer();
    }
    assert.equal(status, 200, 'the closed stream’s slot came back');
  });

  it('a refused stream (unknown group) gives its slot back', async (t) => {
    const api = await startApi({ server: { maxStreamsPerToken: 1 } });
    t.after(api.close);
    // The 404 answer ends the response, which releases the slot before the next request is read.
    for (let i = 0; i < 3; i++)
      assert.equal((await api.call('/api/scalability/stream?group=db', { token: READ_TOKEN })).status, 404);
    const abort = new AbortController();
    t.after(() => abort.abort());
    const res = await fetch(`${api.base}/api/scalability/stream`, {
      headers: { authorization: `Bearer ${READ_TOKEN}` },
      signal: abort.signal,
    });
    assert.equal(res.status, 200);
  });

  it('defaults: 10 per token', async (t) => {
    const api = await startApi();
    const aborts: AbortController[] = [];
    const held: Response[] = [];
    t.after(async () => {
      for (const a of aborts) a.abort();
      held.length = 0; // referenced here, so alive until the end
      await api.close();
    });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const abort = new AbortController();
      aborts.push(abort);
      const res = await fetch(`${api.base}/api/scalability/stream`, {
        headers: { authorization: `Bearer ${READ_TOKEN}` },
        signal: abort.signal,
      });
      held.push(res);
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [...Array(10).fill(200), 429]);
  });
});

describe('a stream reopened under its client id', () => {
  it('replaces the open one of the same token and id, freeing its slot; another token or id does not', async (t) => {
    const api = await startApi({ server: { maxStreamsPerToken: 1 } });
    const aborts: AbortController[] = [];
    const held: Response[] = [];
    t.after(async () => {
      for (const a of aborts) a.abort();
      held.length = 0; // referenced here, so alive until the end
      await api.close();
    });
    const open = async (token: string, id?: string) => {
      const abort = new AbortController();
      aborts.push(abort);
      const res = await fetch(`${api.base}/api/scalability/stream`, {
        headers: {
          authorization: `Bearer ${token}`,
          ...(id !== undefined && { 'x-scaleplane-stream-id': id }),
        },
        signal: abort.signal,
      });
      held.push(res);
      return res;
    };
    // A page whose stream stalled (the connection still open here) reconnects with the same id.
    const stalled = await open(READ_TOKEN, 'page-1');
    assert.equal(stalled.status, 200, 'the first stream');
    const ended = stalled.body!.pipeTo(new WritableStream()).then(
      () => 'ended',
      () => 'ended',
    );
    const again = await open(READ_TOKEN, 'page-1');
    assert.equal(again.status, 200, 'the reconnect of page-1 got its slot (429: the stalled stream held it)');
    assert.equal(await ended, 'ended', 'the replaced stream was closed');
    // Another page of the token, or no id, is a stream of its own: the limit holds.
    const other = await open(READ_TOKEN, 'page-2');
    assert.equal(other.status, 429, 'another id of the same token');
    await other.arrayBuffer();
    const none = await open(READ_TOKEN);
    assert.equal(none.status, 429, 'no id');
    await none.arrayBuffer();
    // The same id under another token replaces nothing of the first token's.
    assert.equal((await open(TOKEN, 'page-1')).status, 200, "the admin token's own stream");
    const still = await open(READ_TOKEN);
    assert.equal(still.status, 429, "the read token's page-1 stream was replaced by another token's");
    await still.arrayBuffer();
    const bad = await open(READ_TOKEN, 'not/an id');
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), {
      error: 'x-scaleplane-stream-id: expected 1 to 64 letters, digits, - or _',
    });
  });
});
