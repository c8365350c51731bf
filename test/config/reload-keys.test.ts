// Every key of the config schema is classified by a reload: walked from the JSON Schema (which is
// derived from the zod schemas, so a key added there shows up here), each leaf key is given two
// valid values and planReload must list the change as applied or as needing a restart. A change
// that reaches the parsed config but neither list would be silently ignored by `scaleplane reload`.
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import { type Config, configJsonSchema, parseConfig, planReload } from '../../src/config/index.js';
import { makeCertificate, type TestCertificate } from '../helpers/tls.js';

type Node = Record<string, unknown>;
type Doc = Record<string, unknown>;

/** A leaf key of the schema: its YAML path (`groups.*.scaling.metrics[].cpu.target`) and node. */
interface Leaf {
  path: string;
  segments: string[];
  node: Node;
}

function children(node: Node): Node[] {
  const out: Node[] = [node];
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const)
    if (Array.isArray(node[k])) for (const c of node[k] as Node[]) out.push(...children(c));
  return out;
}

/** leaves walks the full form's schema down to the keys that hold values. */
function leaves(node: Node, segments: string[] = [], out: Leaf[] = []): Leaf[] {
  let inner = false;
  for (const n of children(node)) {
    if (n.properties !== undefined) {
      inner = true;
      for (const [k, v] of Object.entries(n.properties as Record<string, Node>))
        leaves(v, [...segments, k], out);
    }
    if (n.type === 'object' && typeof n.additionalProperties === 'object' && n.properties === undefined) {
      const value = n.additionalProperties as Node;
      // A mapping of names to sections (groups) is walked; a mapping of scalars (env) is a leaf.
      if (children(value).some((c) => c.properties !== undefined)) {
        inner = true;
        leaves(value, [...segments, '*'], out);
      }
    }
    if (n.items !== undefined && children(n.items as Node).some((c) => c.properties !== undefined)) {
      inner = true;
      leaves(n.items as Node, [...segments, '[]'], out);
    }
  }
  if (!inner && segments.length > 0)
    out.push({ path: segments.join('.').replaceAll('.[]', '[]'), segments, node });
  return out;
}

const STRINGS = [
  '7s',
  '9s',
  '3Mi',
  '5Mi',
  '/a',
  '/b',
  'A_ENV',
  'B_ENV',
  'http://127.0.0.1:7001/',
  'http://127.0.0.1:7002/',
  'redis://127.0.0.1:6379/1',
  'redis://127.0.0.1:6379/2',
  'postgres://127.0.0.1:5432/a',
  'postgres://127.0.0.1:5432/b',
  '127.0.0.1:7001',
  '127.0.0.1:7002',
  'node a.js',
  'node b.js',
  'alpha',
  'beta',
  'ip',
  'header:x-user',
  'web',
  'cert.pem',
  'cert2.pem',
  'key.pem',
  'key2.pem',
  '1d',
  '7d',
];

/** candidates lists values a leaf may take, most likely valid first. */
function candidates(node: Node): unknown[] {
  const out: unknown[] = [];
  for (const n of children(node)) {
    if (Array.isArray(n.enum)) out.push(...(n.enum as unknown[]));
    if (n.const !== undefined) out.push(n.const);
    const types = ([] as unknown[]).concat(n.type ?? []);
    if (types.includes('boolean')) out.push(true, false);
    if (types.includes('integer') || types.includes('number')) {
      const min = (n.minimum as number | undefined) ?? (n.exclusiveMinimum as number | undefined) ?? 0;
      const max = (n.maximum as number | undefined) ?? Number.MAX_SAFE_INTEGER;
      const exclusive = n.exclusiveMinimum !== undefined;
      for (const v of [min, min + 1, min + 2, 2, 3, 5, 10, 50, 0.5, 0.25])
        if (v <= max && (exclusive ? v > min : v >= min) && (types.includes('number') || Number.isInteger(v)))
          out.push(v);
    }
    if (types.includes('string')) {
      const pattern = typeof n.pattern === 'string' ? new RegExp(n.pattern as string) : undefined;
      const minLength = (n.minLength as number | undefined) ?? 0;
      out.push(...STRINGS.filter((s) => s.length >= minLength && (pattern === undefined || pattern.test(s))));
    }
    if (types.includes('object')) out.push({}, { K: 'alpha' }, { K: 'beta' });
    if (types.includes('array')) {
      const items = n.items === undefined ? ['alpha', '/a'] : candidates(n.items as Node);
      out.push([], ...items.slice(0, 4).map((v) => [v]), items.slice(0, 2));
    }
  }
  return [...new Set(out.map((v) => JSON.stringify(v)))].map((v) => JSON.parse(v) as unknown);
}

const GROUP_BASES: Doc[] = [
  { command: 'node server.js', min_instances: 1, max_instances: 3 },
  { provider: 'kubernetes', name: 'web', min_instances: 1, max_instances: 3 },
  { provider: 'aws', auto_scaling_group: 'web', region: 'eu-west-1', min_instances: 1, max_instances: 3 },
];

/** setPath writes `value` at the leaf's place in a copy of `doc` (`*` is `web`, `[]` one item). */
function setPath(doc: Doc, segments: string[], value: unknown): Doc {
  const root = structuredClone(doc);
  let at: Record<string, unknown> | unknown[] = root;
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    const key = seg === '*' ? (segments[i - 1] === 'groups' ? 'web' : 'K') : seg;
    if (seg === '[]') {
      // `[]` follows its array's key, handled below.
      continue;
    }
    const container = at as Record<string, unknown>;
    if (last) {
      container[key] = value;
      break;
    }
    if (segments[i + 1] === '[]') {
      const list = Array.isArray(container[key]) ? (container[key] as unknown[]) : [];
      if (list.length === 0) list.push({});
      container[key] = list;
      at = list[0] as Record<string, unknown>;
      if (i + 1 === segments.length - 1) {
        list[0] = value;
        break;
      }
    } else {
      if (container[key] === null || typeof container[key] !== 'object') container[key] = {};
      at = container[key] as Record<string, unknown>;
    }
  }
  return root;
}

const BASE: Doc = {
  api: { listen: '127.0.0.1:9090' },
  balancer: { listen: '127.0.0.1:8080' },
  groups: {},
};

let baseDir = '/srv';
const tryParse = (doc: Doc): Config | undefined => {
  try {
    return parseConfig(stringify(doc), { baseDir });
  } catch (err) {
    if (process.env.RELOAD_KEYS_DEBUG) console.log(stringify(doc), (err as Error).message);
    return undefined;
  }
};

const cpu = { metrics: [{ cpu: { target: 80 } }] };
const metric = (m: Doc): Doc => ({ groups: { web: { scaling: { metrics: [m] } } } });
const sink = (type: string): Doc => ({ alerts: { sinks: [{ [type]: { url: 'http://127.0.0.1:7009/' } }] } });
// Relative to the test's folder of certificate files (the config reads them when parsed).
const tls = { listen: '127.0.0.1:9090', tls: { cert: 'cert.pem', key: 'key.pem' } };

/**
 * CONTEXT gives the keys some leaves need beside them to be valid (a section's required keys, the
 * other half of a pair): merged into the base before the leaf is set; the longest matching YAML
 * path prefix wins. A new key under an existing section usually needs nothing here.
 */
const CONTEXT: Record<string, Doc> = {
  'api.tls': { api: tls },
  'balancer.tls': { balancer: { ...tls, listen: '127.0.0.1:8080' } },
  'balancer.http2': { balancer: { ...tls, listen: '127.0.0.1:8080' } },
  'balancer.nginx': { balancer: { nginx: { include_file: '/tmp/up.conf' } } },
  'balancer.cloudflare': { balancer: { cloudflare: { zone_id: 'z1' } } },
  'controller.lease': { controller: { lease: { backend: 'redis', url: 'redis://127.0.0.1:6379' } } },
  'controller.state': { controller: { state: { backend: 'file' } } },
  'controller.state.url': { controller: { state: { backend: 'redis', url: 'redis://127.0.0.1:6379' } } },
  'alerts.sinks[].webhook': sink('webhook'),
  'alerts.sinks[].slack': sink('slack'),
  routes: { routes: [{ path_prefix: '/', group: 'web' }], groups: { alpha: { command: 'node a.js' } } },
  'routes[].cache.redis_url': { routes: [{ path_prefix: '/', group: 'web', cache: { storage: 'redis' } }] },
  'groups.*.scaling': { groups: { web: { scaling: cpu } } },
  'groups.*.scaling.behavior': {
    groups: {
      web: {
        scaling: {
          ...cpu,
          behavior: {
            scale_up: { policies: [{ type: 'Pods', value: 1, period: '15s' }] },
            scale_down: { policies: [{ type: 'Pods', value: 1, period: '15s' }] },
          },
        },
      },
    },
  },
  'groups.*.scaling.metrics[].memory': merge(metric({ memory: { target: 80 } }), {
    groups: { web: { resources: { memory: '256Mi' } } },
  }),
  'groups.*.scaling.metrics[].latency': metric({ latency: { target: 200 } }),
  'groups.*.scaling.metrics[].inflight': metric({ inflight: { target: 5 } }),
  'groups.*.scaling.metrics[].rps': metric({ rps: { target: 5 } }),
  'groups.*.scaling.metrics[].rabbitmq.management_url': metric({
    rabbitmq: { queue: 'jobs', target: 10, mode: 'rate' },
  }),
  'groups.*.scaling.metrics[].prometheus': metric({ prometheus: { query: 'up', target: 1 } }),
  'groups.*.scaling.metrics[].prometheus.ca_file': metric({
    prometheus: { query: 'up', target: 1, url: 'https://127.0.0.1:9091' },
  }),
  'groups.*.scaling.metrics[].rabbitmq': metric({ rabbitmq: { queue: 'jobs', target: 10 } }),
  'groups.*.scaling.metrics[].redis': metric({ redis: { key: 'jobs', target: 10 } }),
  'groups.*.scaling.metrics[].nats': metric({ nats: { stream: 'jobs', consumer: 'w', target: 10 } }),
};

/**
 * PAIRS are the leaves whose two values the generator cannot find (a value that must agree with
 * another key): the two configs, as edits of a valid document.
 */
const redisMetric = (redis: Doc): Doc => ({
  groups: { web: { ...GROUP_BASES[0], scaling: { metrics: [{ redis }] } } },
});
const PAIRS: Record<string, [Doc, Doc]> = {
  'groups.*.provider': [{ groups: { web: GROUP_BASES[0]! } }, { groups: { web: GROUP_BASES[1]! } }],
  'balancer.cache.storage': [
    { balancer: { listen: '127.0.0.1:8080', cache: {} } },
    {
      balancer: {
        listen: '127.0.0.1:8080',
        cache: { storage: 'redis', redis_url: 'redis://127.0.0.1:6379' },
      },
    },
  ],
  'routes[].cache.storage': [
    { routes: [{ path_prefix: '/', group: 'web', cache: {} }] },
    {
      routes: [
        { path_prefix: '/', group: 'web', cache: { storage: 'redis', redis_url: 'redis://127.0.0.1:6379' } },
      ],
    },
  ],
  'alerts.sinks[].webhook.url_env': [
    { alerts: { sinks: [{ webhook: { url_env: 'A_ENV' } }] } },
    { alerts: { sinks: [{ webhook: { url_env: 'B_ENV' } }] } },
  ],
  'alerts.sinks[].slack.url_env': [
    { alerts: { sinks: [{ slack: { url_env: 'A_ENV' } }] } },
    { alerts: { sinks: [{ slack: { url_env: 'B_ENV' } }] } },
  ],
  'groups.*.scaling.metrics[].memory.average_value': [
    {
      groups: { web: { ...GROUP_BASES[0], scaling: { metrics: [{ memory: { average_value: '256Mi' } }] } } },
    },
    {
      groups: { web: { ...GROUP_BASES[0], scaling: { metrics: [{ memory: { average_value: '512Mi' } }] } } },
    },
  ],
  'groups.*.scaling.metrics[].redis.sentinel.name': [
    redisMetric({ key: 'jobs', target: 10, sentinel: { name: 'a', sentinels: ['10.0.0.5:26379'] } }),
    redisMetric({ key: 'jobs', target: 10, sentinel: { name: 'b', sentinels: ['10.0.0.5:26379'] } }),
  ],
  'groups.*.scaling.metrics[].redis.sentinel.sentinels': [
    redisMetric({ key: 'jobs', target: 10, sentinel: { name: 'a', sentinels: ['10.0.0.5:26379'] } }),
    redisMetric({ key: 'jobs', target: 10, sentinel: { name: 'a', sentinels: ['10.0.0.6:26379'] } }),
  ],
  'groups.*.scaling.metrics[].redis.cluster': [
    redisMetric({ key: 'jobs', target: 10, cluster: ['10.0.0.8:6379'] }),
    redisMetric({ key: 'jobs', target: 10, cluster: ['10.0.0.9:6379'] }),
  ],
  'groups.*.port_range': [
    { groups: { web: { ...GROUP_BASES[0], port_range: '20000-20999' } } },
    { groups: { web: { ...GROUP_BASES[0], port_range: '21000-21999' } } },
  ],
  'controller.state.backend': [
    { controller: { state: { backend: 'file' } } },
    { controller: { state: { backend: 'redis', url: 'redis://127.0.0.1:6379' } } },
  ],
};

function merge(a: Doc, b: Doc): Doc {
  const out: Doc = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev !== null &&
      typeof prev === 'object' &&
      !Array.isArray(prev) &&
      v !== null &&
      typeof v === 'object' &&
      !Array.isArray(v)
        ? merge(prev as Doc, v as Doc)
        : structuredClone(v);
  }
  return out;
}

function contextOf(path: string): Doc {
  const keys = Object.keys(CONTEXT).filter(
    (k) => path === k || path.startsWith(`${k}.`) || path.startsWith(`${k}[`),
  );
  keys.sort((a, b) => a.length - b.length);
  return keys.reduce<Doc>((doc, k) => merge(doc, CONTEXT[k]!), {});
}

/** covers says whether a reported path (`balancer`, `groups.web.provider`) stands for `leaf`. */
function covers(reported: string, leaf: string): boolean {
  const path = leaf.replace('groups.*', 'groups.web');
  if (path === reported || path.startsWith(`${reported}.`) || path.startsWith(`${reported}[`)) return true;
  // A group's provider fields sit beside its other keys in YAML and under `provider` once parsed.
  return /^groups\.web\.provider$/.test(reported) && /^groups\.web\.[a-z_]+(\.|$)/.test(path);
}

describe('reload: every config key is applied live or reported as needing a restart', () => {
  const schema = (configJsonSchema().anyOf as Node[])[0]!;
  const all = leaves(schema);
  let certificate: TestCertificate | undefined;
  after(() => certificate?.remove());
  before(async () => {
    certificate = await makeCertificate();
    baseDir = certificate.dir;
    await copyFile(certificate.certPath, join(baseDir, 'cert2.pem'));
    await copyFile(certificate.keyPath, join(baseDir, 'key2.pem'));
  });

  it('the walk finds the keys added on 2026-11-29', () => {
    const paths = all.map((l) => l.path);
    for (const key of [
      'groups.*.log_lines_per_second',
      'balancer.cache.hit_for_miss',
      'routes[].cache.hit_for_miss',
      'groups.*.scaling.metrics[].prometheus.url',
    ])
      assert.ok(paths.includes(key), `${key} walked`);
  });

  for (const leaf of all) {
    it(leaf.path, () => {
      const pair = PAIRS[leaf.path];
      const tried: string[] = [];
      const runs: { a: { v: unknown; config: Config }; b: { v: unknown; config: Config } }[] = [];
      if (pair !== undefined) {
        // An edit naming the groups replaces the default one.
        const [a, b] = pair.map((edit) =>
          tryParse(
            merge(
              structuredClone(BASE),
              edit.groups ? edit : merge({ groups: { web: GROUP_BASES[0] } }, edit),
            ),
          ),
        );
        assert.ok(a && b, `${leaf.path}: its PAIRS entry parses`);
        runs.push({ a: { v: 'PAIRS[0]', config: a }, b: { v: 'PAIRS[1]', config: b } });
      }
      const values = candidates(leaf.node);
      const bases = leaf.segments[0] === 'groups' ? GROUP_BASES : [GROUP_BASES[0]!];
      for (const group of pair === undefined ? bases : []) {
        const base = merge(merge(structuredClone(BASE), { groups: { web: group } }), contextOf(leaf.path));
        const parsed = values
          .map((v) => ({ v, config: tryParse(setPath(base, leaf.segments, v)) }))
          .filter((p): p is { v: unknown; config: Config } => p.config !== undefined);
        for (let i = 1; i < parsed.length; i++)
          if (!isDeepStrictEqual(parsed[0]!.config, parsed[i]!.config)) {
            runs.push({ a: parsed[0]!, b: parsed[i]! });
            break;
          }
        if (runs.length > 0) break;
        tried.push(`${parsed.length} of ${values.length} values parse`);
      }
      for (const { a, b } of runs) {
        const plan = planReload(a.config, b.config);
        const reported = [...plan.applied, ...plan.needsRestart];
        assert.ok(
          reported.length > 0,
          `${leaf.path}: ${JSON.stringify(a.v)} → ${JSON.stringify(b.v)} changes the config, but the reload neither applies it nor says it needs a restart`,
        );
        assert.ok(
          reported.some((r) => covers(r, leaf.path)),
          `${leaf.path}: reported as ${reported.join(', ')}`,
        );
        // What needs a restart keeps its running value.
        if (plan.applied.length === 0) assert.deepEqual(plan.config, a.config);
        return;
      }
      // A new key lands here when it needs a sibling to be valid: give it a CONTEXT or PAIRS entry.
      assert.fail(
        `${leaf.path}: no two valid values that change the parsed config (${tried.join('; ')}); add a CONTEXT or PAIRS entry`,
      );
    });
  }
});
