// A token that a config reload takes away (setAuth) loses its open live streams too: every request
// is checked when it arrives, but a stream stays open for hours. A token the reload keeps with
// another role or name loses them as well: their hello announced the old one, which the dashboard
// went on showing. Real HTTP on 127.0.0.1.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Principal, streamEndReason } from '../../src/api/auth.js';
import { READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';

type Api = Awaited<ReturnType<typeof startApi>>;

/** nextDecisionOrEnd reads a live stream until it ends or a `decision` event comes. */
async function nextDecisionOrEnd(reader: ReadableStreamDefaultReader<string>): Promise<'decision' | 'ended'> {
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return 'ended';
    text += value;
    if (/^event: decision$/m.test(text)) return 'decision';
  }
}

/**
 * openStream opens a live stream with `token` and reads it past its hello (so the stream is
 * registered and listening for decisions), returning the reader and the principal the hello named.
 */
async function openStream(
  api: Api,
  token: string,
  aborts: AbortController[],
): Promise<{ reader: ReadableStreamDefaultReader<string>; principal: Principal | undefined }> {
  const abort = new AbortController();
  aborts.push(abort);
  const res = await fetch(`${api.base}/api/scalability/stream`, {
    headers: { authorization: `Bearer ${token}` },
    signal: abort.signal,
  });
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  let hello: RegExpExecArray | null = null;
  while (hello === null) {
    text += (await reader.read()).value ?? '';
    hello = /^event: hello\ndata: (.*)\n\n/m.exec(text);
  }
  return { reader, principal: (JSON.parse(hello[1]!) as { principal?: Principal }).principal };
}

describe('live streams and token revocation', () => {
  it('a reload that drops a token ends its live streams; the streams of kept tokens go on', async (t) => {
    const api = await startApi({ server: { maxStreamsPerToken: 1 } });
    const aborts: AbortController[] = [];
    t.after(async () => {
      for (const a of aborts) a.abort();
      await api.close();
    });
    const open = async (token: string) => (await openStream(api, token, aborts)).reader;
    const revoked = await open(READ_TOKEN);
    const kept = await open(TOKEN);

    // The reload: the token file no longer lists "dashboards".
    api.server.setAuth({ token: TOKEN, tokens: [], maxStreamsPerToken: 1 });
    // A decision every open stream would be sent.
    api.controller.scale('web', 'set', 3, 'test');

    assert.equal(await nextDecisionOrEnd(revoked), 'ended', 'the revoked token still receives decisions');
    assert.equal(await nextDecisionOrEnd(kept), 'decision');
    // And it cannot come back.
    assert.equal((await api.call('/api/scalability/stream', { token: READ_TOKEN })).status, 401);
  });

  it("a reload that changes a kept token's role or name ends its streams; the reconnect says the new one", async (t) => {
    const api = await startApi();
    const aborts: AbortController[] = [];
    t.after(async () => {
      for (const a of aborts) a.abort();
      await api.close();
    });
    const promoted = await openStream(api, READ_TOKEN, aborts);
    assert.deepEqual(promoted.principal, { name: 'dashboards', role: 'read' });
    const kept = await openStream(api, TOKEN, aborts);

    // The reload: the token file keeps the read token, now as admin.
    api.server.setAuth({ token: TOKEN, tokens: [{ name: 'dashboards', role: 'admin', token: READ_TOKEN }] });
    api.controller.scale('web', 'set', 3, 'test');
    assert.equal(await nextDecisionOrEnd(promoted.reader), 'ended', 'the stream kept announcing role read');
    assert.equal(await nextDecisionOrEnd(kept.reader), 'decision');
    // The token is still good: the dashboard's reconnect gets a hello with the new role.
    const again = await openStream(api, READ_TOKEN, aborts);
    assert.deepEqual(again.principal, { name: 'dashboards', role: 'admin' });

    // Back to read, under a new name: ended again, and the next hello says so.
    api.server.setAuth({ token: TOKEN, tokens: [{ name: 'wallboard', role: 'read', token: READ_TOKEN }] });
    api.controller.scale('web', 'set', 2, 'test');
    assert.equal(await nextDecisionOrEnd(again.reader), 'ended', 'the stream kept announcing role admin');
    assert.deepEqual((await openStream(api, READ_TOKEN, aborts)).principal, {
      name: 'wallboard',
      role: 'read',
    });
  });

  it('streamEndReason names what changed, and nothing for the same principal', () => {
    const read: Principal = { name: 'dashboards', role: 'read' };
    assert.equal(streamEndReason(read, { name: 'dashboards', role: 'read' }), undefined);
    assert.equal(streamEndReason(read, undefined), 'its token is no longer accepted');
    assert.equal(
      streamEndReason(read, { name: 'dashboards', role: 'admin' }),
      "its token's role changed from read to admin",
    );
    assert.equal(
      streamEndReason(read, { name: 'wall', role: 'read' }),
      'its token was renamed from "dashboards" to "wall"',
    );
  });
});
