// Live replay: the same trace window through `scaleplane simulate` and through a real group of
// local processes behind the built-in balancer, in real time, and how far the two agree. The
// simulator's claims about a policy hold live only if the live controller feeds the policy what the
// simulator feeds it; this bench measures that instead of assuming it.
//
//   npx tsx bench/live-replay/run.ts [--trace FILE] [--from S] [--minutes 15] [--policy default]
//     [--peak-instances 6] [--capacity 20] [--startup 10] [--interval 5] [--lead-in 3]
//     [--timeline FILE.csv]
//
// --timeline writes t,demand,sim_ready,live_ready,sim_provisioned,live_provisioned per second, and
// FILE.decisions.csv the decisions of both (t in s from the replay's start, before, after, reasons).
//
// Model, as `simulate`: the window's per-minute mean rate, scaled so its peak is peak-instances ×
// capacity req/s; an instance serves `capacity` req/s; a second is overloaded when demand > 90 % of
// the ready instances' capacity. Live, an open-loop client sends each second's requests, evenly
// spaced, to the balancer; the group scales on the balancer's request rate (`rps`, target 90 % of
// capacity for `default`, 70 % for `hpa`, as the presets track CPU); instances are the demo server
// started `startup` s late (`sleep; exec node`), and `scaling.startup` says so to the policy. The
// replay starts on a wall-clock minute, so the forecast's minute buckets line up with the trace's,
// after a lead-in of at least --lead-in minutes at the first minute's rate, once nothing is
// starting (the group starts at 1 instance, as the simulator does on the zero traffic before it). Each second the bench records the live ready and provisioned (starting + ready) counts.
// Then the simulator replays the very demand live had (nothing before the balancer listened, the
// lead-in, the window), from the epoch minute the app started in, and both are scored on the window.
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Scaleplane } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import {
  buildDemand,
  configuredGroup,
  groupReplay,
  OVERLOAD,
  readTrace,
  simulate,
} from '../../src/sim/index.js';

const { values: args } = parseArgs({
  options: {
    trace: { type: 'string', default: resolve(import.meta.dirname, '../../../shared/traces/nasa-1995.tbz2') },
    // NASA July, Thursday the 6th from 08:00 (-0400): the morning ramp. July is the tuning data, so
    // nothing held out is looked at.
    from: { type: 'string', default: String(5 * 86_400 + 8 * 3600) },
    minutes: { type: 'string', default: '15' },
    policy: { type: 'string', default: 'default' },
    'peak-instances': { type: 'string', default: '6' },
    capacity: { type: 'string', default: '20' },
    startup: { type: 'string', default: '10' },
    interval: { type: 'string', default: '5' },
    timeline: { type: 'string' },
    'lead-in': { type: 'string', default: '3' },
  },
});
const from = Number(args.from);
const seconds = Number(args.minutes) * 60;
const capacity = Number(args.capacity);
const startupS = Number(args.startup);
const intervalS = Number(args.interval);
const policyName = args.policy;
const leadInMinutes = Number(args['lead-in']);
if (policyName !== 'default' && policyName !== 'hpa') throw new Error('--policy is default or hpa');
const target = capacity * (policyName === 'default' ? OVERLOAD : 0.7);

const { perSecond } = await readTrace(args.trace);
const demand = buildDemand(perSecond, {
  from,
  to: from + seconds,
  aggregate: 60,
  peakInstances: Number(args['peak-instances']),
  capacity,
});
const rate = demand.rate;

const yaml = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 250ms }
controller: { interval: ${intervalS}s }
groups:
  web:
    command: sleep ${startupS} && exec node server.js
    min_instances: 1
    initial_instances: 1
    max_instances: 40
    scaling:
      policy: ${policyName}
      startup: ${startupS}s
      metrics:
        - rps: { target: ${target} }
`;
const config = parseConfig(yaml, { baseDir: resolve(import.meta.dirname, '../../examples/demo') });

// The group's policy as `simulate --config` builds it (a config it cannot replay fails here, first).
const replay = groupReplay(configuredGroup(config, 'web').group, {
  startup: startupS * 1000,
  interval: intervalS * 1000,
});
const startedAt = Date.now();
const app = await Scaleplane.start({
  config,
  logger: createLogger({ level: 'warn', pretty: false }),
  env: { SCALEPLANE_API_KEY: 'bench' },
});
const { host, port } = app.balancerAddress!;
// The balancer closes a client connection idle for 5 s (node:http's keepAliveTimeout, announced as
// `Keep-Alive: timeout=5`). Node 20's agent applies that hint only when it has a timeout of its own
// (`keepSocketAlive` takes the smaller of the two, and 0 means none), so without one it kept idle
// sockets for ever and, on a loaded machine, now and then wrote a request on one the balancer had
// just closed: ECONNRESET, counted as a failed request though the balancer never read it. Idle
// sockets now close at 4 s, before the balancer's timeout; `get` resends what still loses the race.
const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 4_000 });
const provider = app.providers.get('web')!;
/** Failed requests by what they got (a status, or the error's code), with the second they ended. */
const failures = new Map<string, number>();
let sent = 0;
let inFlight = 0;
let drained: (() => void) | undefined;

function fail(what: string): void {
  failures.set(what, (failures.get(what) ?? 0) + 1);
}

/**
 * Requests resent because the reused keep-alive socket they were written on was reset before any
 * response byte: the balancer closed that idle connection just as we wrote on it, so it never read
 * the request, and resending cannot double it. Node's docs (`request.reusedSocket`) prescribe
 * this retry, as undici does for idempotent requests; a reset on a fresh connection, or once a
 * response began, is still a failure. Counted apart: the client's race, not a dropped request.
 */
let staleResends = 0;
/** Attempts per request at most: a resend may draw another stale socket, but not for ever. */
const MAX_ATTEMPTS = 3;
const STALE_SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

function get(): void {
  sent++;
  inFlight++;
  attempt(1);
}

function attempt(n: number): void {
  const done = () => {
    if (--inFlight === 0) drained?.();
  };
  let answered = false;
  const req = request({ host, port, path: '/', agent }, (res) => {
    answered = true;
    if (res.statusCode !== 200) fail(`HTTP ${res.statusCode}`);
    res.resume();
    res.on('end', done);
    res.on('error', (err) => {
      fail((err as NodeJS.ErrnoException).code ?? err.message);
      done();
    });
  });
  req.on('error', (err) => {
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    if (!answered && req.reusedSocket && STALE_SOCKET_CODES.has(code) && n < MAX_ATTEMPTS) {
      staleResends++;
      attempt(n + 1);
      return;
    }
    fail(code);
    done();
  });
  req.end();
}

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

/** sendSecond sends `count` requests spread evenly over the second that starts at `start`. */
function sendSecond(start: number, count: number): void {
  for (let i = 0; i < count; i++) setTimeout(get, Math.max(0, start + (i * 1000) / count - Date.now()));
}

try {
  // Lead-in: the first minute's rate from the start, so the group holds the simulator's starting
  // count (with no traffic it would scale in to 1), until that many are ready and a wall-clock
  // minute begins: the forecast's buckets are minutes of the epoch, as the trace's are minutes.
  // Each lead-in second's requests, from the epoch minute the app started in: the simulator
  // replays the same (zero before the balancer listened).
  const origin = Math.floor(startedAt / 60_000) * 60_000;
  const offered: number[] = [];
  let leadIn = origin + Math.ceil((Date.now() - origin) / 1000) * 1000;
  const trafficFrom = leadIn;
  let carry = 0;
  let t0: number | undefined;
  while (t0 === undefined || leadIn < t0) {
    await sleepUntil(leadIn);
    carry += rate[0]!;
    sendSecond(leadIn, Math.floor(carry));
    offered[(leadIn - origin) / 1000] = Math.floor(carry);
    carry -= Math.floor(carry);
    leadIn += 1000;
    // At least --lead-in minutes of traffic (the step from no traffic to the first minute's rate is
    // a surprise the forecast's noise remembers for a few minutes), and nothing starting.
    const steady = provider.instances().every((i) => i.state === 'ready');
    if (t0 === undefined && steady && leadIn >= trafficFrom + leadInMinutes * 60_000) {
      t0 = Math.ceil((leadIn + 1000) / 60_000) * 60_000;
    }
  }
  console.log(
    `trace ${args.trace} [${from}, ${from + seconds}) ×${demand.scale.toFixed(2)} (peak ${args['peak-instances']} × ${capacity} req/s), policy ${policyName} on rps target ${target}, startup ${startupS} s, interval ${intervalS} s, ${provider.instances().length} instances at start; replay starts ${new Date(t0).toISOString()} after a ${((t0 - startedAt) / 1000).toFixed(0)} s lead-in`,
  );
  /** Start → ready of every instance seen ready during the replay, ms. */
  const startupMs = new Map<string, number>();
  const liveReady = new Uint16Array(seconds);
  const liveProvisioned = new Uint16Array(seconds);
  for (let t = 0; t < seconds; t++) {
    const start = t0 + t * 1000;
    await sleepUntil(start);
    const instances = provider.instances();
    liveReady[t] = instances.filter((i) => i.state === 'ready').length;
    liveProvisioned[t] = instances.filter((i) => i.state === 'ready' || i.state === 'starting').length;
    for (const i of instances) if (i.readyAt !== undefined) startupMs.set(i.id, i.readyAt - i.startedAt);
    // This second's requests, evenly spaced; the fractions carry over so the counts add up.
    carry += rate[t]!;
    const n = Math.floor(carry);
    carry -= n;
    sendSecond(start, n);
    if (t % 60 === 59) {
      process.stdout.write(
        `minute ${(t + 1) / 60}: demand ${rate[t]!.toFixed(1)} req/s, ready ${liveReady[t]}, provisioned ${liveProvisioned[t]}\n`,
      );
    }
  }

  // The last second's requests: sent within a second, answered soon after (bounded).
  await sleepUntil(t0 + seconds * 1000);
  if (inFlight > 0) {
    await Promise.race([
      new Promise<void>((r) => {
        drained = r;
      }),
      sleepUntil(Date.now() + 10_000),
    ]);
  }

  // The simulator's answer on the very demand live had: lead-in, then the window, from the epoch
  // minute the app started in.
  const lead = (t0 - origin) / 1000;
  const series = new Float64Array(lead + seconds);
  for (let i = 0; i < lead; i++) series[i] = offered[i] ?? 0;
  series.set(rate, lead);
  const simReady = new Uint16Array(seconds);
  const simProvisioned = new Uint16Array(seconds);
  const simDecisions: string[] = [];
  let simDesired = 0;
  simulate(
    series,
    replay.policy,
    replay.metrics,
    { capacity, startup: startupS, interval: intervalS },
    {
      onSecond: (t, _d, ready, provisioned) => {
        if (t < lead) return;
        simReady[t - lead] = ready;
        simProvisioned[t - lead] = provisioned;
      },
      onDecision: (t, d) => {
        if (d.desired !== simDesired) {
          simDecisions.push(`sim,${t - lead},${simDesired},${d.desired},${d.reasons.join(' ')}`);
        }
        simDesired = d.desired;
      },
    },
  );

  if (args.timeline) {
    const rows = ['t,demand,sim_ready,live_ready,sim_provisioned,live_provisioned'];
    for (let t = 0; t < seconds; t++) {
      rows.push(
        `${t},${rate[t]!.toFixed(2)},${simReady[t]},${liveReady[t]},${simProvisioned[t]},${liveProvisioned[t]}`,
      );
    }
    await writeFile(args.timeline, `${rows.join('\n')}\n`);
    const liveDecisions = app.controller.journal
      .entries({ group: 'web' })
      .filter((e) => e.source === 'policy')
      .map(
        (e) =>
          `live,${((Date.parse(e.time) - t0) / 1000).toFixed(2)},${e.before},${e.after},${e.reasons.join(' ')}`,
      );
    await writeFile(
      args.timeline.replace(/(\.csv)?$/, '.decisions.csv'),
      `${['run,t,before,after,reasons', ...simDecisions, ...liveDecisions].join('\n')}\n`,
    );
  }

  const figures = (ready: Uint16Array, provisioned: Uint16Array) => {
    let requests = 0;
    let violated = 0;
    let instanceSeconds = 0;
    for (let t = 0; t < seconds; t++) {
      requests += rate[t]!;
      if (rate[t]! > OVERLOAD * capacity * ready[t]!) violated += rate[t]!;
      instanceSeconds += provisioned[t]!;
    }
    return { violation: (100 * violated) / requests, hours: instanceSeconds / 3600 };
  };
  const live = figures(liveReady, liveProvisioned);
  const simFigures = figures(simReady, simProvisioned);
  let same = 0;
  let absDiff = 0;
  for (let t = 0; t < seconds; t++) {
    if (liveReady[t] === simReady[t]) same++;
    absDiff += Math.abs(liveReady[t]! - simReady[t]!);
  }
  const decisions = app.controller.journal.entries({ group: 'web' }).filter((e) => e.source === 'policy');
  console.log(`                 violation %  instance-hours`);
  const took = [...startupMs.values()].sort((a, b) => a - b);
  const startups =
    took.length === 0
      ? 'n/a'
      : `${(took[0]! / 1000).toFixed(1)}–${(took.at(-1)! / 1000).toFixed(1)} (median ${(took[Math.floor(took.length / 2)]! / 1000).toFixed(1)})`;
  const simChanges = simDecisions.filter((d) => Number(d.split(',')[1]) >= 0).length;
  const liveChanges = decisions.filter((e) => Date.parse(e.time) >= t0).length;
  console.log(
    `simulator        ${simFigures.violation.toFixed(2).padStart(11)}  ${simFigures.hours.toFixed(3).padStart(14)}   (${simChanges} changes of the desired count)`,
  );
  console.log(
    `live             ${live.violation.toFixed(2).padStart(11)}  ${live.hours.toFixed(3).padStart(14)}   (${liveChanges} changes; instances took ${startups} s from start to ready, configured ${startupS} s)`,
  );
  console.log(
    `ready count: live equals the simulator's in ${((100 * same) / seconds).toFixed(1)} % of seconds, mean |difference| ${(absDiff / seconds).toFixed(2)} instances`,
  );
  console.log(
    `requests sent ${sent} (the replay's ${Math.round(rate.reduce((s, r) => s + r, 0))} and the lead-in's), failed ${[...failures.values()].reduce((a, b) => a + b, 0)}${failures.size > 0 ? ` (${[...failures].map(([what, n]) => `${what}: ${n}`).join(', ')})` : ''}, ${inFlight} unanswered, ${staleResends} resent after a stale keep-alive socket's reset; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
} finally {
  agent.destroy();
  await app.close();
}
