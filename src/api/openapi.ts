/**
 * The control API's OpenAPI 3.1 document, generated from zod: request bodies from the very schemas
 * the server validates with (schemas.ts), responses from the schemas below, which mirror the
 * controller's types. `test/api/openapi.test.ts` checks every documented route against live answers.
 */
import { z } from 'zod';
import { CachePurgeRequest, ResizeGroupRequest, ScaleGroupRequest } from './schemas.js';

/** InstanceStatusSchema is one instance in a group's status. */
export const InstanceStatusSchema = z.looseObject({
  id: z.string(),
  address: z.string(),
  state: z.enum(['starting', 'ready', 'draining', 'stopping', 'stopped', 'failed']),
  health: z.enum(['healthy', 'unhealthy', 'unknown']),
  inFlight: z.int().min(0),
  pid: z.int().optional(),
  startedAt: z.string().describe('ISO-8601 time the instance was started'),
  readyAt: z.string().optional().describe('ISO-8601 time it became ready'),
  size: z
    .looseObject({
      cpu: z.number().optional().describe('cores'),
      memory: z.number().optional().describe('bytes'),
      instanceType: z.string().optional(),
    })
    .optional()
    .describe('the size it runs with (a resize, or the group’s resources), when the provider knows it'),
});

/** JournalEntrySchema is one scaling decision of the decision journal. */
export const JournalEntrySchema = z.looseObject({
  seq: z.int().min(1),
  time: z.string().describe('ISO-8601'),
  group: z.string(),
  source: z
    .string()
    .describe(
      'policy, api, startup, reload, health, leader, or provider (a count another client set on the engine)',
    ),
  before: z.int().min(0),
  after: z.int().min(0),
  reasons: z.array(z.string()).describe('stable reason tokens such as AboveTarget, TooManyReplicas'),
  message: z.string(),
  inputs: z.record(z.string(), z.unknown()),
  count: z
    .int()
    .min(2)
    .optional()
    .describe(
      "a decision made again while it was one of the group's two newest entries (same source, before, after, reasons and message but for its numbers and times): how many times; then time, message and inputs are the newest's, and seq is new with each repeat (the entry moves to the end). Absent: once",
    ),
  firstTime: z.string().optional().describe('with count: ISO-8601 time of the first of them'),
  firstSeq: z
    .int()
    .min(1)
    .optional()
    .describe('with count: the seq of the first of them, which names the entry across repeats'),
});

/** GroupStatusSchema is `GET /api/scalability/groups/{name}`. */
export const GroupStatusSchema = z.looseObject({
  name: z.string(),
  provider: z.string(),
  desired: z.int().min(0),
  ready: z.int().min(0),
  serving: z
    .int()
    .min(0)
    .describe('ready instances not out of rotation for failing health checks (health unknown counts)'),
  minInstances: z.int().min(0),
  maxInstances: z.int().min(0),
  autoscaling: z.boolean(),
  scaledBy: z
    .string()
    .optional()
    .describe("the engine's own autoscaler that scales the group (mode: hpa); metrics are its figures"),
  scaledByError: z.string().optional().describe('why that autoscaler could not be read just now'),
  metrics: z.array(
    z.looseObject({
      name: z.string(),
      target: z.number(),
      average: z.number().nullable(),
      unit: z
        .enum(['%', 'bytes', 'ms'])
        .optional()
        .describe('of target and average; absent: a count or rate'),
    }),
  ),
  instances: z.array(InstanceStatusSchema),
  lastDecision: JournalEntrySchema.nullable(),
  startup: z
    .looseObject({
      ms: z.number().min(0).describe('instance start-up the policy uses, ms'),
      source: z.enum(['config', 'learnt', 'default']).describe('scaling.startup, learnt, or the fallback'),
      observed: z
        .int()
        .min(0)
        .describe('start-ups observed of instances this controller started (last 9 kept)'),
      learnt: z.number().min(0).optional().describe('their median, ms'),
      horizon: z.number().min(0).optional().describe('forecast horizon (start-up + controller.interval), ms'),
    })
    .optional()
    .describe('autoscaled groups only'),
});

/** GroupsResponseSchema is `GET /api/scalability/groups`. */
export const GroupsResponseSchema = z.strictObject({ groups: z.array(GroupStatusSchema) });

/** EventsResponseSchema is `GET /api/scalability/events`. */
export const EventsResponseSchema = z.strictObject({ events: z.array(JournalEntrySchema) });

/** ScaleGroupResponseSchema is the answer of `POST /api/scalability/scale-group`. */
export const ScaleGroupResponseSchema = z.strictObject({
  group: z.string(),
  previous: z.int().min(0),
  desired: z.int().min(0),
});

/** ResizeGroupResponseSchema is the answer of `POST /api/scalability/resize-group`: the rolling resize started. */
export const ResizeGroupResponseSchema = z.looseObject({
  group: z.string(),
  size: z.looseObject({
    cpu: z.number().optional().describe('cores'),
    memory: z.number().optional().describe('bytes'),
    instanceType: z.string().optional(),
  }),
  instances: z.int().min(0),
  status: z.literal('rolling'),
  warning: z
    .string()
    .optional()
    .describe('set when nothing keeps the size across a restart (a local group without controller.state)'),
});

/** CachePurgeResponseSchema is the answer of `POST /api/scalability/cache/purge`. */
export const CachePurgeResponseSchema = z.strictObject({
  purged: z.int().min(0).describe('cache keys removed from the balancer’s HTTP caches'),
  cloudflare: z
    .looseObject({
      ok: z.literal(true),
      requests: z.int().min(0).describe('purge requests sent to Cloudflare'),
      ids: z.array(z.string()).describe('purge ids Cloudflare returned'),
      skipped: z.array(z.string()).describe('paths not sent: no cloudflare.base_url to make them URLs'),
    })
    .optional()
    .describe('present when balancer.cloudflare is configured'),
});

/** ReloadResponseSchema is the answer of `POST /api/scalability/reload`. */
export const ReloadResponseSchema = z.strictObject({
  source: z.string().describe('the config file that was read'),
  applied: z.array(z.string()).describe('YAML paths applied now, such as groups.web.max_instances'),
  needsRestart: z
    .array(z.string())
    .describe('YAML paths that changed but need a restart; their running values are kept'),
});

/** ErrorResponseSchema is every error: `{error}` plus a stable `code` where one exists. */
export const ErrorResponseSchema = z.strictObject({
  error: z.string(),
  code: z.string().optional(),
  inEffect: z
    .boolean()
    .optional()
    .describe(
      'SCALEPLANE_NOT_STORED only: whether this controller runs with the change although the state store (or, for a Kubernetes or AWS resize, the engine) does not hold it',
    ),
  operation: z
    .string()
    .optional()
    .describe(
      'SCALEPLANE_BUSY only: the operation in progress that holds the group, e.g. an instance refresh someone else started',
    ),
});

/** HealthResponseSchema is `GET /healthz`. */
export const HealthResponseSchema = z.strictObject({ status: z.literal('ok') });

/** OPENAPI_SCHEMAS names every component schema of the document, requests and responses. */
export const OPENAPI_SCHEMAS = {
  ScaleGroupRequest,
  ResizeGroupRequest,
  CachePurgeRequest,
  ScaleGroupResponse: ScaleGroupResponseSchema,
  CachePurgeResponse: CachePurgeResponseSchema,
  ReloadResponse: ReloadResponseSchema,
  ResizeGroupResponse: ResizeGroupResponseSchema,
  GroupStatus: GroupStatusSchema,
  InstanceStatus: InstanceStatusSchema,
  JournalEntry: JournalEntrySchema,
  GroupsResponse: GroupsResponseSchema,
  EventsResponse: EventsResponseSchema,
  Error: ErrorResponseSchema,
  Health: HealthResponseSchema,
} as const;

/** OpenApiSchemaName is a key of OPENAPI_SCHEMAS. */
export type OpenApiSchemaName = keyof typeof OPENAPI_SCHEMAS;

const REQUEST_SCHEMAS = new Set<OpenApiSchemaName>([
  'ScaleGroupRequest',
  'ResizeGroupRequest',
  'CachePurgeRequest',
]);

type Json = Record<string, unknown>;

const ref = (name: OpenApiSchemaName): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (name: OpenApiSchemaName, description: string): Json => ({
  description,
  content: { 'application/json': { schema: ref(name) } },
});
const error = (description: string): Json => json('Error', description);

/** NOT_STORED describes the 503 of a change the state store did not confirm. */
const NOT_STORED =
  'Or (code SCALEPLANE_NOT_STORED) the state store did not confirm the change: it failed, did not answer within 5 s, or refused the write (STATE_FENCED: this controller was deposed). The message names the store and the cause; `inEffect` says whether this controller runs with the change anyway (true: failed or slow write, a failover would restore the previous value; false: deposed, the change does not hold). No Retry-After then: a scale-out by N repeated after an in-effect change applies twice.';
const UNAUTHORIZED = error('missing or wrong bearer token');
const FORBIDDEN = error('the token has the read role; changes need an admin token');
const TOO_MANY = error(
  'too many scaling calls by this token, or failed authentications from this address (see Retry-After)',
);

/** componentSchemas converts OPENAPI_SCHEMAS with zod's own JSON Schema export (draft 2020-12, OpenAPI 3.1's dialect). */
function componentSchemas(): Record<string, Json> {
  const schemas: Record<string, Json> = {};
  for (const io of ['input', 'output'] as const) {
    const registry = z.registry<{ id: string }>();
    for (const [name, schema] of Object.entries(OPENAPI_SCHEMAS)) {
      if (REQUEST_SCHEMAS.has(name as OpenApiSchemaName) === (io === 'input'))
        registry.add(schema, { id: name });
    }
    const out = z.toJSONSchema(registry, {
      target: 'draft-2020-12',
      io,
      uri: (id) => `#/components/schemas/${id}`,
    }) as { schemas: Record<string, Json> };
    for (const [name, schema] of Object.entries(out.schemas)) {
      const { $schema: _dialect, $id: _id, ...rest } = schema;
      schemas[name] = rest;
    }
  }
  return schemas;
}

/** OpenApiOptions tunes the generated document. */
export interface OpenApiOptions {
  /** Base URL listed under `servers`. @defaultValue none (relative to where the document was fetched) */
  serverUrl?: string;
  /** @defaultValue the package version */
  version?: string;
}

/**
 * buildOpenApiDocument returns the OpenAPI 3.1 document of the control API: every route the API
 * server answers, its parameters, bodies, status codes and the bearer-token security scheme.
 */
export function buildOpenApiDocument(options: OpenApiOptions = {}): Json {
  const groupParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
  const query = (name: string, description: string, schema: Json) => ({
    name,
    in: 'query',
    required: false,
    description,
    schema,
  });
  const nonNegative = { type: 'integer', minimum: 0 };
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Scaleplane control API',
      version: options.version ?? '0.1.0',
      description:
        'Scale and inspect instance groups. Every /api/ route wants `Authorization: Bearer <token>` ' +
        '(SCALEPLANE_API_KEY), and so does /metrics unless api.public_metrics is true; /healthz and ' +
        'this document are open.',
    },
    ...(options.serverUrl !== undefined && { servers: [{ url: options.serverUrl }] }),
    security: [{ bearerAuth: [] }],
    paths: {
      '/healthz': {
        get: {
          operationId: 'healthz',
          summary: 'Liveness probe',
          security: [],
          responses: { '200': json('Health', 'the API is up') },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary:
            'Prometheus metrics (text exposition format); a read or admin token unless api.public_metrics',
          responses: {
            '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
            '401': UNAUTHORIZED,
            // README and the server have answered it since public /metrics got its DNS-rebinding check.
            '421': error(
              'api.public_metrics on a loopback API, no token, and a Host that is not localhost, 127.x.x.x or [::1] (DNS rebinding)',
            ),
            '429': TOO_MANY,
          },
        },
      },
      '/api/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          security: [],
          responses: {
            '200': {
              description: 'OpenAPI 3.1',
              content: { 'application/json': { schema: { type: 'object' } } },
            },
          },
        },
      },
      '/api/scalability/groups': {
        get: {
          operationId: 'listGroups',
          summary: 'Every group with counts, bounds, metrics, instances and last decision',
          responses: { '200': json('GroupsResponse', 'groups'), '401': UNAUTHORIZED, '429': TOO_MANY },
        },
      },
      '/api/scalability/groups/{name}': {
        get: {
          operationId: 'getGroup',
          summary: 'One group',
          parameters: [groupParam],
          responses: {
            '200': json('GroupStatus', 'the group'),
            '401': UNAUTHORIZED,
            '429': TOO_MANY,
            '404': error('unknown group'),
          },
        },
      },
      '/api/scalability/events': {
        get: {
          operationId: 'getEvents',
          summary: 'The decision journal, oldest first',
          parameters: [
            query('group', 'only this group', { type: 'string' }),
            query(
              'since',
              'only entries with seq > since, the oldest `limit` of them (a page: the next starts at the last seq); a repeated decision has a new seq with each repeat, so it comes again, count raised',
              nonNegative,
            ),
            query(
              'limit',
              'at most N (default 100): the newest N, or with since the oldest N after it',
              nonNegative,
            ),
          ],
          responses: {
            '200': json('EventsResponse', 'journal entries'),
            '400': error('since or limit is not a non-negative integer, or group is empty'),
            '401': UNAUTHORIZED,
            '410': error(
              'since is past the newest seq of this journal (code SCALEPLANE_JOURNAL_RESTARTED): it numbers afresh since a restart without a state store; read it again without since',
            ),
            '429': TOO_MANY,
          },
        },
      },
      '/api/scalability/scale-group': {
        post: {
          operationId: 'scaleGroup',
          summary: 'Scale a group by hand: scale-out/scale-in by N (default 1) or set N',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('ScaleGroupRequest') } },
          },
          responses: {
            '200': json(
              'ScaleGroupResponse',
              'scaled; with a state store, answered only once the store holds the new desired count',
            ),
            '400': error('invalid body; the message names the field'),
            '401': UNAUTHORIZED,
            '429': TOO_MANY,
            '403': FORBIDDEN,
            '404': error('unknown group'),
            '409': error(
              'outside min_instances..max_instances, or beyond limits.max_step / limits.max_instances_total; nothing changed',
            ),
            '413': error('body over 64 KiB'),
            '503': error(
              `this controller is a standby (code SCALEPLANE_NOT_LEADER, the message names the leader) or is still adopting running instances (SCALEPLANE_STARTING); retry after Retry-After, or send it to the leader. ${NOT_STORED}`,
            ),
          },
        },
      },
      '/api/scalability/resize-group': {
        post: {
          operationId: 'resizeGroup',
          summary:
            'Resize every instance of a group (vertical scaling): cpu in cores or "500m", memory in bytes or "256Mi", or an instance type',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('ResizeGroupRequest') } },
          },
          responses: {
            '202': json(
              'ResizeGroupResponse',
              'the rolling replacement started (with a state store: answered once the store holds the resize and, local groups, the new size; Kubernetes and AWS groups: once the engine took the size, i.e. the PATCH of the pod template, or the launch template version, group update and instance refresh start); GET the group to follow it',
            ),
            '400': error(
              'invalid body, a knob the group’s provider lacks, or (local) no cgroups this controller may create; the message names the field',
            ),
            '401': UNAUTHORIZED,
            '429': TOO_MANY,
            '403': FORBIDDEN,
            '404': error('unknown group'),
            '409': error(
              'another operation holds the group (code SCALEPLANE_BUSY; `operation` names it, e.g. an AWS instance refresh started outside Scaleplane): nothing changed; repeat once it has ended (Retry-After when the provider knows when). A resize of this controller’s in progress is superseded instead, not refused',
            ),
            '413': error('body over 64 KiB'),
            '501': error('the group’s provider cannot resize'),
            '503': error(
              `this controller is a standby (code SCALEPLANE_NOT_LEADER, the message names the leader) or is still adopting running instances (SCALEPLANE_STARTING); retry after Retry-After, or send it to the leader. ${NOT_STORED} On Kubernetes and AWS also when the engine did not take the size in time (inEffect true: the resize runs on, a failover before the write loses it) or refused it (inEffect false: not in effect, repeat it); the message names the write (the PATCH of the pod template; the launch template version).`,
            ),
          },
        },
      },
      '/api/scalability/cache/purge': {
        post: {
          operationId: 'purgeCache',
          summary:
            'Purge the HTTP response cache by URLs, a prefix and/or tags (and the same at Cloudflare when balancer.cloudflare is set); journaled with the token name',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('CachePurgeRequest') } },
          },
          responses: {
            '200': json('CachePurgeResponse', 'purged'),
            '400': error('invalid body; the message names the field'),
            '401': UNAUTHORIZED,
            '429': TOO_MANY,
            '403': FORBIDDEN,
            '404': error('no HTTP cache is configured'),
            '413': error('body over 64 KiB'),
            '502': error('purged here, but the Cloudflare purge failed (the message says why)'),
          },
        },
      },
      '/api/scalability/reload': {
        post: {
          operationId: 'reloadConfig',
          summary:
            'Re-read and validate the config file, then apply what can change while running (as SIGHUP does); journaled per group with the token name',
          responses: {
            '200': json('ReloadResponse', 'reloaded'),
            '400': error(
              'the new config is invalid (the message lists each problem with its path and line); nothing changed',
            ),
            '401': UNAUTHORIZED,
            '429': TOO_MANY,
            '403': FORBIDDEN,
            '501': error('started without a config file: nothing to reload'),
          },
        },
      },
      '/api/scalability/stream': {
        get: {
          operationId: 'stream',
          summary:
            'Server-sent events: `hello` (the groups, the last 15 minutes of samples and recent decisions), then `tick` (per-group samples and status, every second) and `decision` (each journal entry)',
          parameters: [
            query('group', 'only this group', { type: 'string' }),
            {
              name: 'X-Scaleplane-Stream-Id',
              in: 'header',
              required: false,
              description:
                "the client's name for this stream: an open stream of the same token and id is closed and its slot passes to this one (a reconnect after a stall)",
              schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
            },
          ],
          responses: {
            '200': {
              description: 'an event stream',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            '400': error('an unknown query parameter, or a malformed X-Scaleplane-Stream-Id'),
            '401': UNAUTHORIZED,
            '429': TOO_MANY,
            '404': error('unknown group'),
          },
        },
      },
    },
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas: componentSchemas(),
    },
  };
}
