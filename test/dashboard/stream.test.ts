// The dashboard's live feed: GET /api/scalability/stream as server-sent events, token in the
// Authorization header, history first, then ticks and decisions; closing the API ends the stream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StreamHello, StreamTick } from '../../src/dashboard/index.js';
import { type ApiHarness, startApi, TOKEN } from '../helpers/api-harness.js';

async function* events(res: Response): AsyncGenerator<{ event: string; data: unknown }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) yield { event, data: JSON.parse(data) };
    }
  }
}

describe('SSE stream for the dashboard', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApi();
  });
  after(() => api.close());

  it('refuses a missing token, and an unknown group with 404', async () => {
    assert.equal((await api.call('/api/scalability/stream', { token: null })).status, 401);
    assert.equal((await api.call('/api/scalability/stream?group=db')).status, 404);
  });

  it('sends history, then a tick per interval and each decision', async () => {
    const abort = new AbortController();
    const res = await fetch(`${api.base}/api/scalability/stream`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: abort.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const stream = events(res);
    const hello = (await stream.next()).value!;
    assert.equal(hello.event, 'hello');
    const h = hello.data as StreamHello;
    assert.deepEqual(
      h.groups.map((g) => [g.name, g.desired]),
      [['web', 1]],
    );
    assert.deepEqual(
      h.decisions.map((d) => d.reasons),
      [['InitialInstances']],
    );

    const seen = new Set<string>();
    let scaled = false;
    for await (const e of stream) {
      seen.add(e.event);
      if (e.event === 'tick') {
        const tick = e.data as StreamTick;
        assert.ok(tick.samples.web, 'a sample for web');
        if (!scaled) {
          scaled = true;
          assert.equal(
            (
              await api.call('/api/scalability/scale-group', {
                method: 'POST',
                body: JSON.stringify({ group: 'web', action: 'scale-out' }),
              })
            ).status,
            200,
          );
        } else if (tick.groups[0]!.desired === 2 && seen.has('decision')) break;
      }
      if (e.event === 'decision')
        assert.deepEqual((e.data as { reasons: string[] }).reasons, ['ManualScale']);
    }
    assert.deepEqual([...seen].sort(), ['decision', 'tick']);
    abort.abort();
  });

  it("a new stream's hello shows the groups as they are now, not as of the last tick", async (t) => {
    // The hello took the summaries of the last tick (up to a tick old): a dashboard opened just
    // after a scale showed the old desired count (seen: 0 for a group already up) for a second.
    const count = api.controller.group('web').desired() === 3 ? 2 : 3;
    const scaled = await api.call('/api/scalability/scale-group', {
      method: 'POST',
      body: JSON.stringify({ group: 'web', action: 'set', instances: count }),
    });
    assert.equal(scaled.status, 200);
    const abort = new AbortController();
    t.after(() => abort.abort());
    const res = await fetch(`${api.base}/api/scalability/stream`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: abort.signal,
    });
    const hello = (await events(res).next()).value!;
    assert.equal(hello.event, 'hello');
    assert.deepEqual(
      (hello.data as StreamHello).groups.map((g) => [g.name, g.desired]),
      [['web', count]],
    );
  });

  it("a group's decisions are in the hello however many another group made since", async () => {
    const own = await startApi();
    try {
      // Another group flapped (a health event is an entry per instance transition) 600 times since
      // web's start: before, the hello held the newest 500 of all groups, none of them web's, so a
      // reconnect took web's decisions off a dashboard that showed them, and ?group=web had none.
      for (let i = 0; i < 600; i++)
        own.journal.append(
          {
            group: 'api',
            source: 'health',
            before: 2 + (i % 2),
            after: 3 - (i % 2),
            reasons: [`Flap${i}`],
            message: `flap ${i}`,
            inputs: {},
          },
          Date.now(),
        );
      for (const path of ['/api/scalability/stream', '/api/scalability/stream?group=web']) {
        const abort = new AbortController();
        try {
          const res = await fetch(`${own.base}${path}`, {
            headers: { authorization: `Bearer ${TOKEN}` },
            signal: abort.signal,
          });
          const hello = (await events(res).next()).value!;
          assert.equal(hello.event, 'hello', path);
          assert.deepEqual(
            (hello.data as StreamHello).decisions.filter((d) => d.group === 'web').map((d) => d.reasons),
            [['InitialInstances']],
            `web's decisions in the hello of ${path}`,
          );
        } finally {
          abort.abort();
        }
      }
    } finally {
      await own.close();
    }
  });

  it('close() ends open streams so the server can stop', async () => {
    const other = await startApi();
    const res = await fetch(`${other.base}/api/scalability/stream`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const reading = res.text();
    await other.close();
    assert.match(await reading, /^event: hello/);
  });
});
