// The OpenAPI document is well-formed, and every documented route × status answers as documented
// on a live API: status code, content type, and a body that validates against the document's own
// schema (compiled with Ajv through the MCP SDK's validator).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { buildOpenApiDocument } from '../../src/api/openapi.js';
import { CachePurger } from '../../src/balancer/index.js';
import { ConfigError } from '../../src/config/index.js';
import { StateError } from '../../src/controller/state/index.js';
import { BusyError } from '../../src/providers/index.js';
import { type ApiHarness, type CallResult, READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

// biome-ignore lint/suspicious/noExplicitAny: walking a JSON document
type Json = Record<string, any>;

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];

/** deref inlines every local `$ref` so a schema can be compiled on its own. */
function deref(node: unknown, doc: Json, seen: string[] = []): unknown {
  if (Array.isArray(node)) return node.map((n) => deref(n, doc, seen));
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Json;
  if (typeof obj.$ref === 'string') {
    assert.ok(obj.$ref.startsWith('#/'), `only local refs: ${obj.$ref}`);
    assert.ok(!seen.includes(obj.$ref), `cyclic ref ${obj.$ref}`);
    const target = obj.$ref
      .slice(2)
      .split('/')
      .reduce<unknown>((at, key) => (at as Json | undefined)?.[key], doc);
    assert.ok(target !== undefined, `unresolved $ref ${obj.$ref}`);
    return deref(target, doc, [...seen, obj.$ref]);
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, deref(v, doc, seen)]));
}

function operations(doc: Json): { path: string; method: string; op: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    METHODS.filter((m) => (item as Json)[m]).map((method) => ({ path, method, op: (item as Json)[method] })),
  );
}

interface Case {
  method: 'get' | 'post';
  path: string;
  /** Documented route template this request exercises. */
  route: string;
  status: number;
  body?: unknown;
  token?: string | null;
  /** Run against an API whose provider can resize. */
  resizable?: boolean;
  /** Run against a standby controller (another one leads; its provider can resize). */
  standby?: boolean;
  /** Run against a controller whose state store fails every write (its provider can resize). */
  notStored?: boolean;
  /** Run against a provider that refuses every resize BUSY: another operation holds the group. */
  busy?: boolean;
  /** Run against an API with a cache purge wired: working (`ok`), or with Cloudflare unreachable. */
  purge?: 'ok' | 'edgeDown';
  /** Run against an API whose config reload works (`ok`) or finds the file invalid (`bad`). */
  reload?: 'ok' | 'bad';
  /** A server-sent event stream: check the head and the first event, then hang up. */
  stream?: boolean;
  /** Run against an API with api.public_metrics, sending this Host (fetch cannot set one). */
  publicHost?: string;
}

const reload = (status: number, harness?: Case['reload']): Case => ({
  method: 'post',
  path: '/api/scalability/reload',
  route: '/api/scalability/reload',
  status,
  ...(harness !== undefined && { reload: harness }),
});

const scale = (body: unknown, status: number): Case => ({
  method: 'post',
  path: '/api/scalability/scale-group',
  route: '/api/scalability/scale-group',
  status,
  body,
});
const resize = (body: unknown, status: number): Case => ({
  method: 'post',
  path: '/api/scalability/resize-group',
  route: '/api/scalability/resize-group',
  status,
  body,
});

const purge = (body: unknown, status: number, harness?: Case['purge']): Case => ({
  method: 'post',
  path: '/api/scalability/cache/purge',
  route: '/api/scalability/cache/purge',
  status,
  body,
  ...(harness !== undefined && { purge: harness }),
});

const CASES: Case[] = [
  { method: 'get', path: '/healthz', route: '/healthz', status: 200, token: null },
  { method: 'get', path: '/metrics', route: '/metrics', status: 200, token: READ_TOKEN },
  // Public /metrics on a loopback API refuses a page whose DNS name was rebound to 127.0.0.1.
  {
    method: 'get',
    path: '/metrics',
    route: '/metrics',
    status: 421,
    token: null,
    publicHost: 'evil.example',
  },
  { method: 'get', path: '/api/openapi.json', route: '/api/openapi.json', status: 200, token: null },
  { method: 'get', path: '/api/scalability/groups', route: '/api/scalability/groups', status: 200 },
  {
    method: 'get',
    path: '/api/scalability/groups/web',
    route: '/api/scalability/groups/{name}',
    status: 200,
  },
  { method: 'get', path: '/api/scalability/groups/db', route: '/api/scalability/groups/{name}', status: 404 },
  {
    method: 'get',
    path: '/api/scalability/events?group=web&since=0&limit=5',
    route: '/api/scalability/events',
    status: 200,
  },
  { method: 'get', path: '/api/scalability/events?since=-1', route: '/api/scalability/events', status: 400 },
  {
    method: 'get',
    path: `/api/scalability/events?since=${Number.MAX_SAFE_INTEGER}`,
    route: '/api/scalability/events',
    status: 410,
  },
  scale({ group: 'web', action: 'scale-out', instances: 1 }, 200),
  scale({ group: 'web', action: 'set', instances: 'x' }, 400),
  { ...scale({ group: 'web', action: 'scale-out' }, 403), token: READ_TOKEN },
  scale({ group: 'db', action: 'scale-out' }, 404),
  scale({ group: 'web', action: 'set', instances: 99 }, 409),
  scale({ group: 'web', action: 'set', instances: 1, pad: 'x'.repeat(70_000) }, 413),
  resize({ group: 'web', size: 'large', extra: 1 }, 400),
  resize({ group: 'db', size: 'large' }, 404),
  resize({ group: 'web', size: 'large' }, 501),
  { ...resize({ group: 'web', cpu: '500m' }, 403), token: READ_TOKEN },
  resize({ group: 'web', size: 'large', pad: 'x'.repeat(70_000) }, 413),
  { ...scale({ group: 'web', action: 'scale-out', instances: 1 }, 503), standby: true },
  { ...resize({ group: 'web', cpu: '500m' }, 503), standby: true },
  { ...resize({ group: 'web', cpu: '500m', memory: '256Mi' }, 202), resizable: true },
  { ...scale({ group: 'web', action: 'scale-out', instances: 1 }, 503), notStored: true },
  { ...resize({ group: 'web', cpu: '500m' }, 503), notStored: true },
  { ...resize({ group: 'web', cpu: '500m' }, 409), busy: true },
  {
    method: 'get',
    path: '/api/scalability/stream?group=web',
    route: '/api/scalability/stream',
    status: 200,
    stream: true,
  },
  { method: 'get', path: '/api/scalability/stream?group=db', route: '/api/scalability/stream', status: 404 },
  { method: 'get', path: '/api/scalability/stream?grup=web', route: '/api/scalability/stream', status: 400 },
  purge({ urls: ['/a'], tags: ['t'] }, 200, 'ok'),
  purge({ urls: ['ftp://x/a'] }, 400, 'ok'),
  { ...purge({ urls: ['/a'] }, 403, 'ok'), token: READ_TOKEN },
  purge({ urls: ['/a'] }, 404),
  purge({ urls: ['/a'], pad: 'x'.repeat(70_000) }, 413, 'ok'),
  purge({ urls: ['https://www.example.com/a'] }, 502, 'edgeDown'),
  reload(200, 'ok'),
  reload(400, 'bad'),
  { ...reload(403, 'ok'), token: READ_TOKEN },
  reload(501),
];

/** getWithHost GETs `path` with a Host header of its own (fetch sends the URL's), no token. */
function getWithHost(harness: ApiHarness, path: string, host: string): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: harness.port, path, headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          text,
          contentType: res.headers['content-type'] ?? '',
          body: text,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('OpenAPI document', () => {
  let api: ApiHarness;
  let resizable: ApiHarness;
  let purging: ApiHarness;
  let edgeDown: ApiHarness;
  let reloading: ApiHarness;
  let badReload: ApiHarness;
  let standby: ApiHarness;
  let notStored: ApiHarness;
  let busy: ApiHarness;
  let publicMetrics: ApiHarness;
  let doc: Json;
  const ajv = new AjvJsonSchemaValidator();
  before(async () => {
    api = await startApi();
    resizable = await startApi({ resizable: true });
    standby = await startApi({ resizable: true });
    publicMetrics = await startApi({ server: { publicMetrics: true } });
    standby.controller.standBy('leader-host/42/abc@127.0.0.1:9090');
    notStored = await startApi({ resizable: true });
    notStored.controller.persistWith({
      backend: 'redis',
      stored: () => Promise.reject(new StateError('STATE_UNAVAILABLE', 'state: redis unreachable')),
    });
    const holding = new MemoryProvider('web');
    Object.assign(holding, {
      savesSize: true,
      sizeWrite: 'the size write',
      resize: async () => {
        throw new BusyError('web: instance refresh ir-1 is InProgress: resize refused, nothing changed', {
          operation: 'instance refresh ir-1 (InProgress)',
        });
      },
    });
    busy = await startApi({ provider: holding });
    purging = await startApi({ server: { cachePurger: new CachePurger({ purgeLocal: async () => 0 }) } });
    edgeDown = await startApi({
      server: {
        cachePurger: new CachePurger({
          purgeLocal: async () => 0,
          // Port 1 on loopback: nothing listens, the connection is refused at once.
          cloudflare: { zoneId: 'zone1', tokenEnv: 'CF_TOKEN', apiBase: 'http://127.0.0.1:1/client/v4' },
          env: { CF_TOKEN: 'token' },
        }),
      },
    });
    reloading = await startApi({
      server: {
        reload: async () => ({
          source: '/srv/scaleplane.yaml',
          applied: ['groups.web.max_instances'],
          needsRestart: [],
        }),
      },
    });
    badReload = await startApi({
      server: {
        reload: async () => {
          throw new ConfigError([{ path: 'groups.web.max_instances', line: 9, message: 'must be >= 1' }]);
        },
      },
    });
    const res = await api.call('/api/openapi.json', { token: null });
    assert.equal(res.status, 200);
    doc = res.body;
  });
  after(() =>
    Promise.all([
      api.close(),
      resizable.close(),
      purging.close(),
      edgeDown.close(),
      reloading.close(),
      badReload.close(),
      standby.close(),
      notStored.close(),
      busy.close(),
      publicMetrics.close(),
    ]),
  );

  it('is the document buildOpenApiDocument generates', () => {
    assert.deepEqual(doc, JSON.parse(JSON.stringify(buildOpenApiDocument())));
  });

  it('is well-formed OpenAPI 3.1', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    assert.ok(Object.keys(doc.paths).length >= 8, 'Object.keys(doc.paths).length >= 8');
    const schemes = Object.keys(doc.components.securitySchemes);
    for (const requirement of doc.security)
      for (const name of Object.keys(requirement))
        assert.ok(schemes.includes(name), 'schemes.includes(name)');
    const ids = new Set<string>();
    for (const { path, method, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      assert.ok(path.startsWith('/'), where);
      assert.equal(typeof op.operationId, 'string', `${where}: operationId`);
      assert.ok(!ids.has(op.operationId), `${where}: duplicate operationId`);
      ids.add(op.operationId);
      const declared = (op.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.sort(), templated.sort(), `${where}: path parameters`);
      for (const p of op.parameters ?? []) {
        assert.ok(['path', 'query', 'header', 'cookie'].includes(p.in), `${where}: parameter ${p.name}`);
        if (p.in === 'path') assert.equal(p.required, true);
      }
      assert.ok(Object.keys(op.responses).length > 0, `${where}: responses`);
      for (const [status, response] of Object.entries(op.responses as Json)) {
        assert.match(status, /^[1-5]\d\d$/, `${where}: status ${status}`);
        assert.equal(typeof response.description, 'string', `${where} ${status}: description`);
      }
    }
    // Every schema, and every schema a route uses, resolves and compiles.
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      assert.doesNotThrow(() => ajv.getValidator(deref(schema, doc) as Json), `schema ${name}`);
    }
    deref(doc.paths, doc);
  });

  it('documents the request schemas the server validates with (zod → JSON Schema)', () => {
    const scaleBody = doc.components.schemas.ScaleGroupRequest;
    assert.deepEqual(scaleBody.required.sort(), ['action', 'group']);
    assert.deepEqual(scaleBody.properties.action.enum, ['scale-out', 'scale-in', 'set']);
    assert.equal(scaleBody.additionalProperties, false);
    assert.equal(scaleBody.properties.instances.type, 'integer');
  });

  it('covers every documented route and status with a live case', () => {
    const documented = operations(doc).flatMap(({ path, method, op }) =>
      Object.keys(op.responses).map((status) => `${method} ${path} ${status}`),
    );
    const covered = new Set([
      ...CASES.map((c) => `${c.method} ${c.route} ${c.status}`),
      // 401 and 429 run for every route that wants the token (below).
      ...operations(doc)
        .filter(({ op }) => op.security === undefined)
        .flatMap(({ path, method }) => [`${method} ${path} 401`, `${method} ${path} 429`]),
    ]);
    const missing = documented.filter((d) => !covered.has(d));
    assert.deepEqual(missing, [], 'documented but never exercised');
    const undocumented = [...covered].filter((c) => !documented.includes(c));
    assert.deepEqual(undocumented, [], 'exercised but not documented');
  });

  /** check asserts one live answer against the document. */
  async function check(c: Case): Promise<void> {
    const op = doc.paths[c.route][c.method];
    if (c.stream) {
      const abort = new AbortController();
      const res = await fetch(api.base + c.path, {
        headers: { authorization: `Bearer ${TOKEN}` },
        signal: abort.signal,
      });
      assert.equal(res.status, c.status);
      const documented = Object.keys(op.responses[String(c.status)].content)[0]!;
      assert.ok(
        res.headers.get('content-type')?.startsWith(documented),
        `content-type, documented ${documented}`,
      );
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      assert.match(first, /^event: hello\ndata: \{/);
      abort.abort();
      return;
    }
    const withHost =
      c.publicHost !== undefined ? await getWithHost(publicMetrics, c.path, c.publicHost) : undefined;
    const harness =
      c.reload === 'ok'
        ? reloading
        : c.reload === 'bad'
          ? badReload
          : c.purge === 'ok'
            ? purging
            : c.purge === 'edgeDown'
              ? edgeDown
              : c.standby
                ? standby
                : c.notStored
                  ? notStored
                  : c.busy
                    ? busy
                    : c.resizable
                      ? resizable
                      : api;
    const res =
      withHost ??
      (await harness.call(c.path, {
        method: c.method.toUpperCase(),
        ...(c.body !== undefined && {
          body: JSON.stringify(c.body),
          headers: { 'content-type': 'application/json' },
        }),
        ...(c.token !== undefined && { token: c.token }),
        raw: true,
      }));
    assert.equal(res.status, c.status, `${c.method} ${c.path}: ${res.text.slice(0, 200)}`);
    const response = op.responses[String(c.status)];
    const [type, media] = Object.entries(response.content as Json)[0]!;
    assert.ok(
      res.contentType.startsWith(type),
      `${c.path}: content-type ${res.contentType}, documented ${type}`,
    );
    const body = type === 'application/json' ? JSON.parse(res.text) : res.text;
    const verdict = ajv.getValidator(deref(media.schema, doc) as Json)(body);
    assert.ok(verdict.valid, `${c.method} ${c.path} ${c.status}: ${verdict.errorMessage}`);
    if (c.status < 300 && c.body !== undefined) {
      const requestSchema = deref(op.requestBody.content['application/json'].schema, doc) as Json;
      assert.ok(
        ajv.getValidator(requestSchema)(c.body).valid,
        'the request of a 2xx case is documented as valid',
      );
    }
  }

  for (const c of CASES) {
    it(`${c.method.toUpperCase()} ${c.path.slice(0, 60)} → ${c.status} as documented`, () => check(c));
  }

  // The summary is what a client of the document learns the stream's events from: it named
  // `sample` and `status`, which the server never sends, and not `hello` or `tick`, which it does.
  it("the stream's summary names exactly the events the stream sends", async () => {
    const named = new Set(
      [...(doc.paths['/api/scalability/stream'].get.summary as string).matchAll(/`(\w+)`/g)].map((m) => m[1]),
    );
    const live = await startApi();
    const abort = new AbortController();
    const seen = new Set<string>();
    try {
      const res = await fetch(`${live.base}/api/scalability/stream`, {
        headers: { authorization: `Bearer ${TOKEN}` },
        signal: abort.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      // A decision to stream; ticks come once a second. Bounded: at most 10 s of reading.
      const scaled = await live.call('/api/scalability/scale-group', {
        method: 'POST',
        body: JSON.stringify({ group: 'web', action: 'scale-out' }),
      });
      assert.equal(scaled.status, 200);
      const deadline = setTimeout(() => abort.abort(), 10_000);
      try {
        while (!(seen.has('hello') && seen.has('tick') && seen.has('decision'))) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
          for (const m of text.matchAll(/^event: (\w+)$/gm)) seen.add(m[1]!);
        }
      } finally {
        clearTimeout(deadline);
      }
    } finally {
      abort.abort();
      await live.close();
    }
    assert.deepEqual([...seen].sort(), ['decision', 'hello', 'tick'], 'events the stream sent');
    assert.deepEqual([...named].sort(), [...seen].sort(), 'events the summary names');
  });

  /** checkTokenRoutes sends a wrong token to every route that wants one and checks `status` against the document. */
  async function checkTokenRoutes(status: number): Promise<void> {
    for (const { path, method, op } of operations(doc)) {
      if (op.security !== undefined) continue;
      await check({
        method: method as 'get' | 'post',
        path: path.replace('{name}', 'web'),
        route: path,
        status,
        token: 'wrong',
        ...(method === 'post' && { body: {} }),
      });
    }
  }

  it('answers 401 as documented on every route that wants the token', () => checkTokenRoutes(401));

  // Last: it uses up this client address's failed authentications for the minute.
  it('answers 429 as documented on every route once a client keeps failing to authenticate', async () => {
    let status = 0;
    for (let tries = 0; tries < 50 && status !== 429; tries++)
      status = (await api.call('/api/scalability/groups', { token: 'wrong', raw: true })).status;
    assert.equal(status, 429, 'failed authentications are rate-limited');
    await checkTokenRoutes(429);
  });
});
