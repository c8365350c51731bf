// A token that a config reload takes away (setAuth) loses its open live streams too: every request
// is checked when it arrives, but a stream stays open for hours. Real HTTP on 127.0.0.1.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';

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

describe('live streams and token revocation', () => {
  it('a reload that drops a token ends its live streams; the streams of kept tokens go on', async (t) => {
    const api = await startApi({ server: { maxStreamsPerToken: 1 } });
    const aborts: AbortController[] = [];
    t.after(async () => {
      for (const a of aborts) a.abort();
      await api.close();
    });
    const open = async (token: string) => {
      const abort = new AbortController();
      aborts.push(abort);
      const res = await fetch(`${api.base}/api/scalability/stream`, {
        headers: { authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      // Past the hello, so the stream is registered and listening for decisions.
      let text = '';
      while (!text.includes('event: hello')) text += (await reader.read()).value ?? '';
      return reader;
    };
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
});
