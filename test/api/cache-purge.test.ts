// POST /api/scalability/cache/purge against a live control API wired to a real balancer's HTTP
// cache (memory) in front of a real backend; and the optional Cloudflare purge against a local
// HTTP server that checks every request has the shape Cloudflare's API documents (no Cloudflare
// can be reached from here).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CachePurger, checkCloudflareToken, type PurgeSelector } from '../../src/balancer/index.js';
import type { CloudflareConfig } from '../../src/config/types.js';
import { startCached } from '../balancer/cache/helpers.js';
import { send } from '../balancer/helpers.js';
import { READ_TOKEN, startApi } from '../helpers/api-harness.js';

const ZONE = '023e105f4ecef8ad9ca31a8372d0c353';
const CF_TOKEN = 'cf-test-token-abcdef';

/** cachedSite is a balancer caching three tagged pages of a backend. */
async function cachedSite(t: import('node:test').TestContext) {
  const c = await startCached(t, (req, res) => {
    const tag = req.url!.startsWith('/products/') ? 'products' : 'pages';
    res.writeHead(200, { 'Cache-Control': 'max-age=600', 'Cache-Tag': `${tag},all` });
    res.end(req.url);
  });
  const paths = ['/products/1', '/products/2', '/about'];
  for (const path of paths) await send(c.port, { path });
  const cached = async (path: string) => (await send(c.port, { path })).headers['x-cache'] === 'HIT';
  return { ...c, paths, cached };
}

async function purgeApi(
  purgeLocal: (s: PurgeSelector) => Promise<number>,
  cloudflare?: CloudflareConfig,
  env = {},
) {
  return startApi({
    server: {
      cachePurger: new CachePurger({ purgeLocal, ...(cloudflare !== undefined && { cloudflare }), env }),
    },
  });
}

const post = (body: unknown, token?: string | null) => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
  ...(token !== undefined && { token }),
});

describe('cache purge API', () => {
  test('purges by URL, prefix and tag; each call is journaled with the token name', async (t) => {
    const site = await cachedSite(t);
    const api = await purgeApi((s) => site.balancer.purgeCache(s));
    t.after(() => api.close());

    const byUrl = await api.call('/api/scalability/cache/purge', post({ urls: ['/products/1'] }));
    assert.equal(byUrl.status, 200, byUrl.text);
    assert.deepEqual(byUrl.body, { purged: 1 });
    assert.equal(await site.cached('/products/1'), false);
    assert.equal(await site.cached('/products/2'), true);

    const byPrefix = await api.call('/api/scalability/cache/purge', post({ prefix: '/products/' }));
    assert.deepEqual(byPrefix.body, { purged: 2 }, 'the refilled /products/1 and /products/2');
    const byTag = await api.call('/api/scalability/cache/purge', post({ tags: ['pages'] }));
    assert.deepEqual(byTag.body, { purged: 1 });
    assert.equal(await site.cached('/about'), false);

    const entries = api.journal.entries().filter((e) => e.reasons.includes('CachePurge'));
    assert.equal(entries.length, 3);
    assert.equal(entries[0]!.source, 'api');
    assert.equal(entries[0]!.inputs.by, 'api-key');
    assert.deepEqual(entries[0]!.inputs.urls, ['/products/1']);
    assert.equal(entries[2]!.inputs.purged, 1);
    assert.match(entries[2]!.message, /by api-key: 1 key\(s\) removed/);
    const events = await api.call('/api/scalability/events');
    assert.ok(
      events.body.events.some((e: { reasons: string[] }) => e.reasons.includes('CachePurge')),
      "events.body.events.some((e: { reasons: string[] }) => e.reasons.includes('CachePurge'))",
    );
  });

  test('a host purge reaches the entries stored for that host at a non-default port', async (t) => {
    const site = await cachedSite(t);
    const api = await purgeApi((s) => site.balancer.purgeCache(s));
    t.after(() => api.close());
    // Not the balancer's port nor the scheme's default: the key keeps the port (shop.example:8443).
    const get = (host: string) => send(site.port, { path: '/x', headers: { host } });
    const hit = async (host: string) => (await get(host)).headers['x-cache'] === 'HIT';
    const fill = async () => {
      for (const host of ['shop.example:8443', 'shop.example:9000']) await get(host);
    };
    await fill();
    assert.equal(await hit('shop.example:8443'), true);

    const byHost = await api.call('/api/scalability/cache/purge', post({ urls: ['https://shop.example/x'] }));
    assert.deepEqual(byHost.body, { purged: 2 }, 'no port given: the host at every port');
    assert.equal(await hit('shop.example:8443'), false);

    await fill();
    const byPort = await api.call(
      '/api/scalability/cache/purge',
      post({ prefix: 'https://shop.example:8443/' }),
    );
    assert.deepEqual(byPort.body, { purged: 1 }, 'a port given: that port only');
    assert.equal(await hit('shop.example:8443'), false);
    assert.equal(await hit('shop.example:9000'), true);
  });

  test('no token is 401, a read token is 403, and neither purges anything', async (t) => {
    const site = await cachedSite(t);
    const api = await purgeApi((s) => site.balancer.purgeCache(s));
    t.after(() => api.close());
    const anonymous = await api.call('/api/scalability/cache/purge', post({ tags: ['all'] }, null));
    assert.equal(anonymous.status, 401);
    const reader = await api.call('/api/scalability/cache/purge', post({ tags: ['all'] }, READ_TOKEN));
    assert.equal(reader.status, 403);
    assert.match(reader.body.error, /needs admin/);
    for (const path of site.paths) assert.equal(await site.cached(path), true, path);
    assert.equal(api.journal.entries().filter((e) => e.reasons.includes('CachePurge')).length, 0);
  });

  test('bad bodies are 400 naming the field', async (t) => {
    const api = await purgeApi(async () => 0);
    t.after(() => api.close());
    const cases: [unknown, RegExp][] = [
      [{}, /give urls, prefix or tags/],
      [{ urls: ['/ok', 'mailto:x@y'] }, /^urls\.1:/],
      [{ urls: '/a' }, /^urls:/],
      [{ prefix: 'relative' }, /^prefix:/],
      [{ tags: ['a'], extra: 1 }, /extra: unknown field/],
    ];
    for (const [body, message] of cases) {
      const res = await api.call('/api/scalability/cache/purge', post(body));
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.body.error, message);
    }
  });

  test('without a cache configured the route says so (404)', async (t) => {
    const api = await startApi();
    t.after(() => api.close());
    const res = await api.call('/api/scalability/cache/purge', post({ tags: ['a'] }));
    assert.equal(res.status, 404);
    assert.match(res.body.error, /no HTTP cache configured/);
  });
});

interface CloudflareCall {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

/**
 * fakeCloudflare answers `POST /client/v4/zones/{zone_id}/purge_cache` as the documented API
 * does, after checking the request: bearer token, JSON, exactly one of files (absolute http(s)
 * URLs), tags or prefixes (host/path, no scheme), at most 30 items. Anything else gets the
 * documented error shape and status 400.
 */
async function fakeCloudflare(t: import('node:test').TestContext, answer: 'ok' | 'auth-error' = 'ok') {
  const calls: CloudflareCall[] = [];
  const problems: string[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
    calls.push({
      method: req.method!,
      url: req.url!,
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      body,
    });
    const problem = checkShape(req, body);
    if (problem !== undefined) problems.push(problem);
    const reply = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    if (answer === 'auth-error')
      return reply(403, {
        success: false,
        errors: [{ code: 10000, message: 'Authentication error' }],
        messages: [],
        result: null,
      });
    if (problem !== undefined)
      return reply(400, {
        success: false,
        errors: [{ code: 1012, message: problem }],
        messages: [],
        result: null,
      });
    reply(200, { success: true, errors: [], messages: [], result: { id: `purge-${calls.length}` } });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  return { calls, problems, apiBase: `http://127.0.0.1:${port}/client/v4` };
}

function checkShape(req: http.IncomingMessage, body: Record<string, unknown>): string | undefined {
  if (req.method !== 'POST') return `method ${req.method}`;
  if (req.url !== `/client/v4/zones/${ZONE}/purge_cache`) return `path ${req.url}`;
  if (req.headers.authorization !== `Bearer ${CF_TOKEN}`) return 'authorization';
  if (!req.headers['content-type']?.startsWith('application/json')) return 'content-type';
  const keys = Object.keys(body);
  if (keys.length !== 1 || !['files', 'tags', 'prefixes'].includes(keys[0]!)) return `keys ${keys.join(',')}`;
  const items = body[keys[0]!];
  if (!Array.isArray(items) || items.length === 0 || items.length > 30) return 'item count';
  if (!items.every((i) => typeof i === 'string')) return 'items must be strings';
  if (keys[0] === 'files' && !items.every((i) => /^https?:\/\/[^/]+\//.test(i)))
    return 'files must be absolute URLs';
  if (keys[0] === 'prefixes' && !items.every((i) => !i.includes('://') && /^[^/]+\//.test(i)))
    return 'prefixes are host/path without a scheme';
  return undefined;
}

describe('cache purge: Cloudflare (against a local server checking the documented request shape)', () => {
  test('URLs (in batches of 30), tags and a prefix become documented purge_cache requests', async (t) => {
    const cf = await fakeCloudflare(t);
    let localPurges = 0;
    const api = await purgeApi(
      async () => {
        localPurges++;
        return 0;
      },
      { zoneId: ZONE, tokenEnv: 'CF_TOKEN', apiBase: cf.apiBase, baseUrl: 'https://www.example.com' },
      { CF_TOKEN },
    );
    t.after(() => api.close());
    const urls = [...Array.from({ length: 34 }, (_, i) => `/p/${i}`), 'https://cdn.example.com/x.css'];
    const res = await api.call(
      '/api/scalability/cache/purge',
      post({ urls, tags: ['products', 'all'], prefix: '/static/' }),
    );
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(cf.problems, []);
    assert.equal(localPurges, 1);
    assert.deepEqual(
      cf.calls.map((c) => Object.keys(c.body)[0]),
      ['files', 'files', 'tags', 'prefixes'],
    );
    assert.equal((cf.calls[0]!.body.files as string[]).length, 30);
    assert.equal((cf.calls[1]!.body.files as string[]).length, 5);
    assert.equal((cf.calls[0]!.body.files as string[])[0], 'https://www.example.com/p/0');
    assert.ok(
      (cf.calls[1]!.body.files as string[]).includes('https://cdn.example.com/x.css'),
      "(cf.calls[1]!.body.files as string[]).includes('https://cdn.example.com/x.css')",
    );
    assert.deepEqual(cf.calls[2]!.body.tags, ['products', 'all']);
    assert.deepEqual(cf.calls[3]!.body.prefixes, ['www.example.com/static/']);
    assert.deepEqual(res.body.cloudflare, {
      ok: true,
      requests: 4,
      ids: ['purge-1', 'purge-2', 'purge-3', 'purge-4'],
      skipped: [],
    });
    const entry = api.journal.entries().find((e) => e.reasons.includes('CachePurge'))!;
    assert.match(entry.message, /Cloudflare purged/);
  });

  test('the token can come from a file; paths without base_url are reported, not sent', async (t) => {
    const cf = await fakeCloudflare(t);
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-cf-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${CF_TOKEN}\n`);
    const api = await purgeApi(async () => 0, {
      zoneId: ZONE,
      tokenEnv: 'UNSET_TOKEN_VARIABLE',
      tokenFile,
      apiBase: cf.apiBase,
    });
    t.after(() => api.close());
    const res = await api.call(
      '/api/scalability/cache/purge',
      post({ urls: ['/relative', 'https://www.example.com/abs'] }),
    );
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(cf.problems, []);
    assert.deepEqual(
      cf.calls.map((c) => c.body),
      [{ files: ['https://www.example.com/abs'] }],
    );
    assert.deepEqual(res.body.cloudflare.skipped, ['/relative']);
  });

  test('a refused Cloudflare purge is a 502 naming its error; the local purge still happened and is journaled', async (t) => {
    const cf = await fakeCloudflare(t, 'auth-error');
    const api = await purgeApi(
      async () => 3,
      { zoneId: ZONE, tokenEnv: 'CF_TOKEN', apiBase: cf.apiBase },
      { CF_TOKEN },
    );
    t.after(() => api.close());
    const res = await api.call('/api/scalability/cache/purge', post({ tags: ['all'] }));
    assert.equal(res.status, 502);
    assert.match(
      res.body.error,
      /purged 3 key\(s\) here, but the Cloudflare purge failed: Cloudflare answered 403: 10000 Authentication error/,
    );
    const entry = api.journal.entries().find((e) => e.reasons.includes('CachePurge'))!;
    assert.match(entry.message, /Cloudflare purge FAILED/);
    assert.equal(entry.inputs.purged, 3);
  });

  test('no token anywhere: 502 saying which variable to set, without calling Cloudflare', async (t) => {
    const cf = await fakeCloudflare(t);
    const api = await purgeApi(
      async () => 0,
      { zoneId: ZONE, tokenEnv: 'CF_TOKEN', apiBase: cf.apiBase },
      {},
    );
    t.after(() => api.close());
    const res = await api.call('/api/scalability/cache/purge', post({ tags: ['all'] }));
    assert.equal(res.status, 502);
    assert.match(res.body.error, /set CF_TOKEN or cloudflare.token_file/);
    assert.equal(cf.calls.length, 0);
  });

  test('the start-up check reads token_file as a purge does, and warns when nothing gives a token', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-cf-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const tokenFile = join(dir, 'cf-token');
    const config = { zoneId: ZONE, tokenEnv: 'CF_TOKEN', apiBase: 'http://127.0.0.1:9', tokenFile };
    await assert.rejects(checkCloudflareToken(config, {}), {
      message: `balancer.cloudflare.token_file ${tokenFile}: ENOENT: no such file or directory, open '${tokenFile}'`,
    });
    await writeFile(tokenFile, ' \n');
    await assert.rejects(checkCloudflareToken(config, {}), {
      message: `balancer.cloudflare.token_file ${tokenFile} is empty`,
    });
    await writeFile(tokenFile, `${CF_TOKEN}\n`);
    assert.deepEqual(await checkCloudflareToken(config, {}), {});
    const { tokenFile: _, ...fromEnv } = config;
    assert.deepEqual(await checkCloudflareToken(fromEnv, { CF_TOKEN }), {});
    assert.match(
      (await checkCloudflareToken(fromEnv, { CF_TOKEN: ' ' })).warning ?? '',
      /^no Cloudflare API token: set CF_TOKEN/,
    );
    assert.deepEqual(await checkCloudflareToken(undefined, {}), {});
  });
});
