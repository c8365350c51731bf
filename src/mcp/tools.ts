import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ResizeGroupRequest, ScaleGroupRequest } from '../api/index.js';
import { PRESET_NAMES, type PresetName } from '../policy/index.js';
import type { ControlApi } from './api.js';
import { McpError } from './errors.js';
import { SIMULATE_TIMEOUT_MS, simulateApart } from './simulate.js';

/** TOOL_NAMES are the tools the Scaleplane MCP server offers. */
export const TOOL_NAMES = [
  'list_groups',
  'get_group',
  'scale_group',
  'resize_group',
  'get_events',
  'simulate',
] as const;

/** MAX_TRACE_SECONDS bounds a simulate call's inline trace (a week at one value per second). */
export const MAX_TRACE_SECONDS = 7 * 86_400;

/** MAX_TRACE_RATE bounds one trace value (req/s): the simulator's arrays overflow on 1e308. */
export const MAX_TRACE_RATE = 1e9;

/**
 * traceSchema checks the values itself and reports only the first bad one: per-element checks made
 * one issue per value, and a week of negatives overflowed the stack while the SDK formatted them
 * ("Maximum call stack size exceeded", naming no argument).
 */
const traceSchema = z
  .array(z.number())
  .min(60)
  .max(MAX_TRACE_SECONDS)
  .check((ctx) => {
    const bad = ctx.value.findIndex((v) => !(v >= 0 && v <= MAX_TRACE_RATE));
    if (bad === -1) return;
    const count = ctx.value.filter((v) => !(v >= 0 && v <= MAX_TRACE_RATE)).length;
    ctx.issues.push({
      code: 'custom',
      input: ctx.value[bad],
      path: [bad],
      message: `expected requests per second in 0..${MAX_TRACE_RATE}, got ${ctx.value[bad]}${count > 1 ? ` (and ${count - 1} more bad values)` : ''}`,
    });
  })
  .meta({ items: { type: 'number', minimum: 0, maximum: MAX_TRACE_RATE } })
  .describe('requests per second, one value per second');

const ok = (summary: string, data: Record<string, unknown>): CallToolResult => ({
  content: [{ type: 'text', text: `${summary}\n${JSON.stringify(data, null, 2)}` }],
  structuredContent: data,
});

/**
 * failed is a tool's error result: the message, and for an API refusal the API's status and error
 * body (its `code`, and `inEffect` or `operation` where it says them) as structured content.
 */
const failed = (err: unknown): CallToolResult => ({
  content: [{ type: 'text', text: err instanceof Error ? err.message : String(err) }],
  ...(err instanceof McpError &&
    err.status !== undefined && { structuredContent: { ...err.answer, status: err.status } }),
  isError: true,
});

async function attempt(run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (err) {
    return failed(err);
  }
}

/**
 * call sends one API call and checks that its answer holds each of `keys` (`name[]`: an array): an
 * --api that names another service answering JSON (the balancer, passing the call to the demo app's
 * `{"hello": …}`) made scale_group report `undefined: undefined → undefined` as a success, and
 * list_groups fail with `Cannot read properties of undefined (reading 'map')`. The CLI checks so too.
 * `signal` is the tool call's: cancelling the call ends its API request.
 */
async function call<T>(
  api: ControlApi,
  signal: AbortSignal,
  method: 'GET' | 'POST',
  path: string,
  keys: readonly string[],
  body?: unknown,
): Promise<T> {
  const answer = await api.request<unknown>(method, path, body, signal);
  const missing = keys.find((key) => {
    const name = key.replace(/\[\]$/, '');
    if (answer === null || typeof answer !== 'object' || !(name in answer)) return true;
    return name !== key && !Array.isArray((answer as Record<string, unknown>)[name]);
  });
  if (missing !== undefined)
    throw new McpError(
      'MCP_API_ERROR',
      `${method} ${path.split('?')[0]} answered JSON without ${missing.endsWith('[]') ? 'an array ' : ''}"${missing.replace(/\[\]$/, '')}": is --api the Scaleplane control API?`,
    );
  return answer as T;
}

interface GroupLike {
  name: string;
  desired: number;
  ready: number;
  minInstances: number;
  maxInstances: number;
}

const line = (g: GroupLike) =>
  `${g.name}: ${g.ready}/${g.desired} ready (bounds ${g.minInstances}..${g.maxInstances})`;

/**
 * registerTools adds Scaleplane's tools to an MCP server. `api` returns the control API client for
 * the current call (stdio: the configured token; HTTP: the caller's own bearer token).
 */
export function registerTools(
  server: McpServer,
  api: (authToken: string | undefined) => ControlApi,
  /** How long one simulate may run. @defaultValue SIMULATE_TIMEOUT_MS (120 s) */
  simulateTimeoutMs = SIMULATE_TIMEOUT_MS,
): void {
  const token = (extra: { authInfo?: { token: string } }) => extra.authInfo?.token;

  server.registerTool(
    'list_groups',
    {
      title: 'List instance groups',
      description:
        'Every group Scaleplane runs: desired and ready instances, min/max, metrics, instances, last decision.',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (extra) =>
      attempt(async () => {
        const { groups } = await call<{ groups: GroupLike[] }>(
          api(token(extra)),
          extra.signal,
          'GET',
          '/api/scalability/groups',
          ['groups[]'],
        );
        return ok(groups.map(line).join('\n') || '(no groups)', { groups });
      }),
  );

  server.registerTool(
    'get_group',
    {
      title: 'Get one group',
      description:
        'One group in detail: counts, bounds, metric averages vs targets, each instance (address, state, health, in-flight), last decision.',
      inputSchema: z.strictObject({
        group: ScaleGroupRequest.shape.group.describe('group name, such as "web"'),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ group }, extra) =>
      attempt(async () => {
        const status = await call<GroupLike>(
          api(token(extra)),
          extra.signal,
          'GET',
          `/api/scalability/groups/${encodeURIComponent(group)}`,
          ['name', 'desired', 'ready', 'minInstances', 'maxInstances'],
        );
        return ok(line(status), status as unknown as Record<string, unknown>);
      }),
  );

  server.registerTool(
    'scale_group',
    {
      title: 'Scale a group',
      description:
        'Change how many instances a group runs: scale-out/scale-in by `instances` (default 1) or set the count. ' +
        'Refused outside min..max (nothing changes). The autoscaler starts from the new count.',
      // The API's own strict schema: a misspelt `instanse: 3` is refused, not dropped (which made
      // a scale-out by the default 1).
      inputSchema: ScaleGroupRequest,
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    (args, extra) =>
      attempt(async () => {
        const result = await call<{ group: string; previous: number; desired: number }>(
          api(token(extra)),
          extra.signal,
          'POST',
          '/api/scalability/scale-group',
          ['group', 'previous', 'desired'],
          args,
        );
        return ok(`${result.group}: ${result.previous} → ${result.desired}`, result);
      }),
  );

  server.registerTool(
    'resize_group',
    {
      title: 'Resize a group (vertical)',
      description:
        'Replace every instance of a group with one of a new size (cpu in cores, memory such as "256Mi", or an instance type), rolling, without downtime.',
      inputSchema: ResizeGroupRequest,
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
    },
    (args, extra) =>
      attempt(async () => {
        const result = await call<Record<string, unknown>>(
          api(token(extra)),
          extra.signal,
          'POST',
          '/api/scalability/resize-group',
          ['group', 'status'],
          args,
        );
        const warning = typeof result.warning === 'string' ? `; ${result.warning}` : '';
        return ok(`resize of ${args.group} started${warning}`, result);
      }),
  );

  server.registerTool(
    'get_events',
    {
      title: 'Scaling decisions',
      description:
        'The decision journal, oldest first: every scaling, its source, before/after counts and reason codes.',
      inputSchema: z.strictObject({
        group: z.string().min(1).max(63).optional().describe('only this group'),
        since: z
          .int()
          .min(0)
          .optional()
          .describe('only entries with seq > since, the oldest `limit` of them (page on from the last seq)'),
        limit: z
          .int()
          .min(1)
          .max(1000)
          .optional()
          .describe('at most N (default 50): the newest N, or with since the oldest N after it'),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ group, since, limit }, extra) =>
      attempt(async () => {
        const query = new URLSearchParams({ limit: String(limit ?? 50) });
        if (group !== undefined) query.set('group', group);
        if (since !== undefined) query.set('since', String(since));
        const { events } = await call<{
          events: { time: string; group: string; message: string; reasons: string[] }[];
        }>(api(token(extra)), extra.signal, 'GET', `/api/scalability/events?${query}`, ['events[]']);
        const text = events
          .map((e) => `${e.time} ${e.group} ${e.message} [${e.reasons.join(', ')}]`)
          .join('\n');
        return ok(text || '(no events)', { events });
      }),
  );

  server.registerTool(
    'simulate',
    {
      title: 'Simulate scaling policies',
      description:
        'Replay a traffic trace (requests per second, one number per second) through scaling policies and the oracle: ' +
        'SLO violations and cost. Pure computation: touches no running group.',
      inputSchema: z.strictObject({
        trace: traceSchema,
        policies: z
          .array(z.enum(PRESET_NAMES as unknown as [PresetName, ...PresetName[]]))
          .min(1)
          .max(8)
          .optional(),
        // Bounded as the trace's values are: at 1e300 the scaled demand overflowed, and the answer
        // read `NaN% of requests over capacity` (`violation_pct: null`).
        capacity: z
          .number()
          .positive()
          .max(MAX_TRACE_RATE)
          .default(100)
          .describe('req/s one instance serves at 100 % CPU'),
        startup: z.int().min(0).max(3600).default(60).describe('seconds from scale-out to ready'),
        min: z.int().min(0).default(1),
        max: z.int().min(1).max(10_000).default(40),
        interval: z.int().min(1).max(3600).default(15).describe('seconds between decisions'),
        aggregate: z.int().min(1).max(3600).default(60).describe('average demand over this many seconds'),
        peak_instances: z
          .int()
          .min(1)
          .max(10_000)
          .default(20)
          .describe("scale the trace's peak to this × capacity"),
        absolute: z
          .boolean()
          .default(false)
          .describe(
            'replay the rates as they are (capacity = what one instance really serves); peak_instances is then ignored',
          ),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (args, extra) =>
      attempt(async () => {
        if (args.min > args.max) throw new Error('min must be <= max');
        // Over HTTP the caller's token is checked by the API before the simulator runs: it calls
        // no API itself, so any `Bearer x` got up to a second of CPU per call, which blocks
        // every other caller. (stdio acts for the operator who started it; no check, works offline.)
        const caller = token(extra);
        if (caller !== undefined)
          await api(caller).request('GET', '/api/scalability/events?limit=1', undefined, extra.signal);
        const rows = await simulateApart(
          Float64Array.from(args.trace),
          {
            from: 0,
            aggregate: args.aggregate,
            peakInstances: args.peak_instances,
            absolute: args.absolute,
            capacity: args.capacity,
            startup: args.startup,
            min: args.min,
            max: args.max,
            interval: args.interval,
            policies: args.policies ?? ['default'],
            withOracle: true,
          },
          extra.signal,
          simulateTimeoutMs,
        );
        const text = rows
          .map(
            (r) =>
              `${r.policy}: ${r.violation_pct}% of requests over capacity, ${r.instance_hours} instance-hours, cost ×${r.cost_vs_oracle} vs oracle`,
          )
          .join('\n');
        return ok(text, { rows });
      }),
  );
}
