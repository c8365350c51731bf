/**
 * Data shared by the server side (sampler, SSE stream, replay renderer) and the browser client.
 * Types only: the client bundle imports this file too.
 */

/** DashboardSample is one group's load and capacity at one moment. Missing figures are null. */
export interface DashboardSample {
  /** Epoch milliseconds. */
  t: number;
  /** Requests per second through the balancer over the last interval. */
  rps: number | null;
  /** Share of those requests that failed (5xx or no answer), percent. */
  errorRate: number | null;
  /** Latency percentiles over the last interval, milliseconds. */
  p50: number | null;
  p99: number | null;
  /** Average CPU per instance, percent of its CPU size (resources.cpu), or of one core without one. */
  cpu: number | null;
  desired: number | null;
  ready: number | null;
  /** Requests in flight through the balancer. */
  inFlight: number | null;
  /** Queue depth for worker groups scaled on a queue, when known. */
  queueDepth?: number | null;
}

/** DecisionMark is a scaling decision drawn on the timeline. */
export interface DecisionMark {
  /** Epoch milliseconds. */
  t: number;
  group: string;
  before: number;
  after: number;
  reasons: string[];
  message: string;
  /** policy, api, startup, … */
  source: string;
  seq?: number;
  /** A repeated decision (the journal's `count`): how many times, when more than once. */
  count?: number;
  /** With `count`: epoch milliseconds of the first of them (`t` is the newest's). */
  firstT?: number;
  /** With `count`: the journal's `firstSeq`, which names the decision across its repeats. */
  firstSeq?: number;
}

/** InstanceRow is one row of the instances table. */
export interface InstanceRow {
  id: string;
  address: string;
  state: string;
  health: string;
  inFlight: number;
  startedAt: string;
  readyAt?: string;
}

/** GroupSummary is what the dashboard shows of a group beyond its charts. */
export interface GroupSummary {
  name: string;
  provider: string;
  desired: number;
  ready: number;
  minInstances: number;
  maxInstances: number;
  autoscaling: boolean;
  instances: InstanceRow[];
}

/** StreamHello is the first event of the stream: the recent past, to draw at once. */
export interface StreamHello {
  intervalMs: number;
  /**
   * The token the stream was opened with (its name, never the secret) and its role, so the
   * dashboard disables what a `read` token may not do instead of letting it end in a 403.
   */
  principal?: { name: string; role: 'read' | 'admin' };
  /**
   * The server's wall clock (epoch ms) as the event was sent. The instances' ages are measured
   * against it: the browser's own clock may be minutes off the server's, which put a fresh
   * instance at `10m 3s` (browser 10 min ahead) or `0s` for as long as the browser was behind.
   */
  serverNow?: number;
  groups: GroupSummary[];
  samples: Record<string, DashboardSample[]>;
  decisions: DecisionMark[];
}

/** StreamTick is sent every interval: one new sample per group and every group's summary. */
export interface StreamTick {
  /** The server's wall clock (epoch ms) as the event was sent (see StreamHello). */
  serverNow?: number;
  samples: Record<string, DashboardSample>;
  groups: GroupSummary[];
}

/** ReplayGroup is one group of a replay: its samples over time and the decisions taken. */
export interface ReplayGroup {
  name: string;
  samples: DashboardSample[];
  decisions: DecisionMark[];
  minInstances?: number;
  maxInstances?: number;
}

/** ReplaySeries is what `renderReplayHtml` draws: a simulator run (or any recorded series). */
export interface ReplaySeries {
  /** @defaultValue 'Scaleplane replay' */
  title?: string;
  /** One line under the title, such as the trace file and policy. */
  subtitle?: string;
  groups: ReplayGroup[];
  /** Figures to show as cards (cost, SLO attainment…), label → value. */
  summary?: Record<string, string | number>;
}
