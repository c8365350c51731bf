import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
// Modules, not the config and metrics barrels: those load the zod schema and every metric source,
// which only --config needs (loaded there).
import { parseDuration } from '../config/duration.js';
import { baseUrlProblem, redactQuery, urlProblem } from '../config/url.js';
import { redactCredentials } from '../metrics/url-credentials.js';
import { PRESET_NAMES, type PresetName } from '../policy/index.js';
import {
  type ConfiguredGroup,
  configuredGroup,
  type ExperimentRow,
  groupReplay,
  OVERLOAD,
  type PolicyReplay,
  parseTraceTime,
  readTrace,
  renderSvg,
  runExperiment,
  SimConfigError,
  svgToPng,
  TraceError,
  type TraceSource,
  toReplaySeries,
} from '../sim/index.js';
import { CliError } from './client.js';
import { readableFile, writableFile } from './paths.js';

/**
 * count reads a flag that counts instances or seconds: a whole number ≥ `min`. A fraction (`--max
 * 2.5`) or a 0 where the simulator divides or sizes arrays by it failed deep inside with "Invalid
 * array length"; it is a usage error naming the flag.
 */
function count(name: string, min: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`);
    return n;
  };
}

/**
 * amount reads a flag that is a quantity: a number ≥ 0, or > 0 where a 0 would divide by zero
 * (`--capacity`), and at most `max`: the demand is scaled to peak-instances × capacity, and at
 * `--capacity 1e307` that overflowed, every figure printed 0.00 (0 % violations at 0.00× the oracle).
 */
function amount(name: string, zero: 'allowed' | 'refused', max = Number.MAX_VALUE) {
  return (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || (n === 0 && zero === 'refused'))
      throw new InvalidArgumentError(`${name} must be a number ${zero === 'allowed' ? '≥' : '>'} 0`);
    if (n > max) throw new InvalidArgumentError(`${name} must be at most ${max}, got ${raw}`);
    return n;
  };
}

/** The MCP simulate tool's bounds (mcp/tools.ts), as plain numbers: the CLI does not load the MCP SDK. */
const MAX_CAPACITY = 1e9;
const MAX_PEAK_INSTANCES = 10_000;

const PLOT_FORMATS = ['.svg', '.png'] as const;
type PlotFormat = (typeof PLOT_FORMATS)[number];

/** plotFormat reads the format of `--plot FILE` from its extension, or throws a usage error (exit 2). */
export function plotFormat(file: string): PlotFormat {
  const ext = extname(file).toLowerCase();
  if (!(PLOT_FORMATS as readonly string[]).includes(ext)) {
    throw new CliError(
      `--plot ${file}: unknown extension ${ext === '' ? '(none)' : ext}, expected ${PLOT_FORMATS.join(' or ')}`,
      2,
    );
  }
  return ext as PlotFormat;
}

function seconds(name: string) {
  return (raw: string): number => {
    try {
      return parseDuration(raw) / 1000;
    } catch (err) {
      throw new InvalidArgumentError(`${name}: ${(err as Error).message}`);
    }
  };
}

/**
 * resolveWhen reads `--since`/`--until`: `now`, a duration before `now` (`7d`, `90m`) or an
 * ISO-8601 time (no offset: UTC), as unix seconds. Throws a usage error (exit 2) naming the flag.
 */
function resolveWhen(flag: string, raw: string, now: number): number {
  if (raw.trim() === 'now') return now;
  const time = parseTraceTime(raw.trim());
  if (time?.kind === 'ISO-8601') return time.t;
  try {
    return now - parseDuration(raw) / 1000;
  } catch {
    throw new CliError(
      `${flag} ${raw}: expected now, a duration before now (7d, 90m) or an ISO-8601 time (2024-05-01T10:00:00Z)`,
      2,
    );
  }
}

/**
 * traceIndex reads `--from`/`--to`: a second of the trace (0 = its first), or, for a trace with
 * times (`.csv`, `--prometheus`; `start` in unix seconds), an ISO-8601 time within it. Anything else,
 * or a time outside the trace, is a usage error (exit 2) naming the flag.
 */
export function traceIndex(flag: string, raw: string, start: number | undefined, length: number): number {
  const text = raw.trim();
  const index = /^\d+$/.test(text) ? Number(text) : undefined;
  if (index !== undefined) {
    if (index > length) throw new CliError(`${flag} ${raw}: the trace has ${length} seconds`, 2);
    return index;
  }
  const time = parseTraceTime(text);
  if (time?.kind !== 'ISO-8601') {
    throw new CliError(`${flag} ${raw}: expected a second of the trace (0, 1, …) or an ISO-8601 time`, 2);
  }
  if (start === undefined) {
    throw new CliError(`${flag} ${raw}: this trace has no times (workload.txt): give a second of it`, 2);
  }
  const at = Math.round(time.t - start);
  if (at < 0 || at > length) {
    const first = new Date(start * 1000).toISOString();
    const last = new Date((start + length) * 1000).toISOString();
    throw new CliError(`${flag} ${raw}: outside the trace, which runs from ${first} to ${last}`, 2);
  }
  return at;
}

/** traceSource reads which trace the flags ask for, or throws a usage error (exit 2). */
function traceSource(
  flags: Pick<
    SimulateFlags,
    | 'trace'
    | 'prometheus'
    | 'query'
    | 'since'
    | 'until'
    | 'step'
    | 'maxGap'
    | 'bearerTokenFile'
    | 'caFile'
    | 'header'
  >,
  now: number,
): { source: TraceSource; label: string } {
  const remote = (['query', 'since', 'until', 'step', 'bearerTokenFile', 'caFile', 'header'] as const).filter(
    (k) => flags[k] !== undefined,
  );
  if (flags.maxGap !== undefined && !(flags.maxGap > 0))
    throw new CliError('--max-gap must be more than 0', 2);
  if (flags.trace !== undefined && flags.prometheus !== undefined) {
    throw new CliError('--trace and --prometheus are two sources of a trace: give one of them', 2);
  }
  if (flags.trace !== undefined) {
    if (remote.length > 0)
      throw new CliError(`--${kebab(remote[0]!)} goes with --prometheus, not --trace`, 2);
    if (flags.maxGap !== undefined && !/\.csv$/i.test(flags.trace)) {
      throw new CliError('--max-gap applies to a .csv trace or --prometheus (workload.txt has no times)', 2);
    }
    return {
      source: { file: flags.trace, ...(flags.maxGap === undefined ? {} : { maxGap: flags.maxGap }) },
      label: flags.trace,
    };
  }
  if (flags.prometheus === undefined) {
    throw new CliError('a trace is needed: --trace FILE, or --prometheus URL --query PROMQL', 2);
  }
  if (flags.query === undefined)
    throw new CliError('--prometheus needs --query PROMQL (one series of req/s)', 2);
  // The same checks as a prometheus metric's url in the config: a query or fragment would be
  // dropped, with the path prefix, when api/v1/query_range is joined on.
  const urlIssue =
    urlProblem(flags.prometheus, ['http:', 'https:']) ??
    baseUrlProblem(flags.prometheus, 'api/v1/query_range');
  if (urlIssue !== undefined)
    throw new CliError(`--prometheus ${redactQuery(redactCredentials(flags.prometheus))}: ${urlIssue}`, 2);
  const start = resolveWhen('--since', flags.since ?? '7d', now);
  const end = resolveWhen('--until', flags.until ?? 'now', now);
  if (!(start < end)) {
    throw new CliError(`--since ${flags.since ?? '7d'} is not before --until ${flags.until ?? 'now'}`, 2);
  }
  const step = flags.step ?? 60;
  if (step < 1) throw new CliError('--step must be at least 1s (the trace is per second)', 2);
  if (flags.caFile !== undefined && !/^https:/i.test(flags.prometheus))
    throw new CliError('--ca-file needs an https --prometheus URL', 2);
  if (flags.bearerTokenFile !== undefined && /^https?:\/\/[^/?#]*@/i.test(flags.prometheus))
    throw new CliError('give one way to authenticate: --bearer-token-file, or user:password in the URL', 2);
  return {
    source: {
      prometheus: {
        url: flags.prometheus,
        query: flags.query,
        start,
        end,
        step,
        ...(flags.maxGap === undefined ? {} : { maxGap: flags.maxGap }),
        ...(flags.bearerTokenFile === undefined ? {} : { bearerTokenFile: flags.bearerTokenFile }),
        ...(flags.caFile === undefined ? {} : { caFile: flags.caFile }),
        ...(flags.header === undefined ? {} : { headers: flags.header }),
      },
    },
    // The label is printed and written into reports: never the password of the URL.
    label: `${redactCredentials(flags.prometheus)} ${flags.query}`,
  };
}

function policyName(raw: string): PresetName {
  if (!(PRESET_NAMES as readonly string[]).includes(raw)) {
    throw new InvalidArgumentError(`unknown policy (known: ${PRESET_NAMES.join(', ')})`);
  }
  return raw as PresetName;
}

interface SimulateFlags {
  trace?: string;
  prometheus?: string;
  query?: string;
  since?: string;
  until?: string;
  step?: number;
  maxGap?: number;
  bearerTokenFile?: string;
  caFile?: string;
  header?: Record<string, string>;
  absolute?: boolean;
  from: string;
  to?: string;
  aggregate: number;
  peakInstances: number;
  capacity: number;
  startup: number;
  min: number;
  max: number;
  interval: number;
  policy: PresetName[];
  config?: string;
  group?: string;
  compare?: boolean;
  json?: boolean;
  timeline?: string;
  plot?: string;
  html?: string;
}

/** registerSimulate adds `scaleplane simulate` to the program. */
export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('replay a traffic trace through scaling policies: SLO violations and cost vs the oracle')
    .option(
      '--trace <file>',
      'workload.txt (per-second counts), a .tbz2 holding one, or a time,value .csv of req/s',
    )
    .option('--prometheus <url>', 'fetch the trace from Prometheus instead (with --query)')
    .option('--query <promql>', 'PromQL giving one series of req/s, e.g. sum(rate(http_requests_total[1m]))')
    .option('--since <when>', 'start: a duration before now or an ISO-8601 time (default 7d)')
    .option('--until <when>', 'end: now, a duration before now or an ISO-8601 time (default now)')
    .option('--step <duration>', 'resolution asked of Prometheus (default 60s)', seconds('--step'))
    .option(
      '--bearer-token-file <file>',
      'send the token in this file as Authorization: Bearer (--prometheus)',
    )
    .option('--ca-file <file>', 'trust the CA(s) in this PEM file for an https --prometheus')
    .addOption(
      new Option('--header <name: value>', 'one more request header for --prometheus, repeatable').argParser(
        headerFlag,
      ),
    )
    .option(
      '--max-gap <duration>',
      'longest interval between samples that is held (default: 5m or the step, the longer)',
      seconds('--max-gap'),
    )
    .option('--absolute', 'replay the rates as they are (req/s), not scaled to --peak-instances')
    .option(
      '--from <s|time>',
      'first second (trace index), or an ISO-8601 time of a .csv/--prometheus trace',
      '0',
    )
    .option('--to <s|time>', 'last second, exclusive, or an ISO-8601 time (default: the end)')
    .option('--aggregate <s>', 'average demand over this many seconds', count('--aggregate', 1), 60)
    .option(
      '--peak-instances <n>',
      "scale the window's peak to n × capacity",
      amount('--peak-instances', 'refused', MAX_PEAK_INSTANCES),
      20,
    )
    .option(
      '--capacity <rps>',
      'req/s one instance serves at 100 % CPU',
      amount('--capacity', 'refused', MAX_CAPACITY),
      100,
    )
    .option('--startup <s>', 'seconds from scale-out to ready', amount('--startup', 'allowed'), 60)
    .option('--min <n>', 'min instances', count('--min', 0), 1)
    .option('--max <n>', 'max instances', count('--max', 1), 40)
    .option('--interval <s>', 'seconds between decisions', count('--interval', 1), 15)
    .addOption(
      new Option('--policy <name>', `policy to replay, repeatable (${PRESET_NAMES.join(', ')})`)
        .argParser((raw: string, prev: PresetName[] | undefined) => {
          // A repeat ran the policy twice: two identical rows, JSON lines and plot series.
          if (prev?.includes(raw as PresetName)) throw new InvalidArgumentError(`${raw} is given twice`);
          return [...(prev ?? []), policyName(raw)];
        })
        .default(undefined),
    )
    .option('-c, --config <file>', "with --group: replay that group's configured policy too, as config:GROUP")
    .option(
      '--group <name>',
      'the group of --config to replay (its bounds, start-up and interval by default)',
    )
    .option('--compare', 'run default, hpa and the other policies plus the oracle')
    .option('--json', 'print one JSON object per policy')
    .option('--timeline <file.csv>', 'write t,demand,ready,provisioned per second of the first policy')
    .option(
      '--plot <file.svg|file.png>',
      'draw demand and ready capacity of every policy, as SVG or PNG (by the extension)',
    )
    .option('--html <file.html>', "write the dashboard's charts of every policy as one offline HTML page")
    .action(async (flags: Omit<SimulateFlags, 'policy'> & { policy?: PresetName[] }, command: Command) => {
      const plot =
        flags.plot === undefined ? undefined : { file: flags.plot, format: plotFormat(flags.plot) };
      const configured = await loadGroup(flags);
      // With --config, the group's bounds and timing are the run's, so presets compare on equal terms;
      // a flag given on the command line still wins.
      const given = (flag: 'min' | 'max' | 'startup' | 'interval') =>
        command.getOptionValueSource(flag) === 'cli';
      const run = {
        min: configured && !given('min') ? configured.group.minInstances : flags.min,
        max: configured && !given('max') ? configured.group.maxInstances : flags.max,
        startup: configured && !given('startup') ? configured.startup / 1000 : flags.startup,
        interval: configured && !given('interval') ? configured.interval / 1000 : flags.interval,
      };
      if (run.interval < 1 || flags.aggregate < 1)
        throw new CliError('--interval and --aggregate must be ≥ 1', 2);
      if (configured && !given('interval') && !Number.isInteger(run.interval)) {
        throw new CliError(
          `controller.interval ${run.interval}s: the simulator decides on whole seconds; give --interval`,
          2,
        );
      }
      if (run.min > run.max) throw new CliError(`--min ${run.min} is above --max ${run.max}`, 2);
      const replay: PolicyReplay | undefined = configured && groupOf(configured, run, flags.config!);
      const asked = flags.policy ?? [];
      const presets: PresetName[] = flags.compare
        ? [...new Set<PresetName>([...asked, ...PRESET_NAMES])]
        : asked.length > 0 || replay
          ? asked
          : ['default'];
      const policies = [...(replay ? [replay] : []), ...presets];
      const started = Date.now();
      const { source, label } = traceSource(flags, started / 1000);
      if (flags.absolute && command.getOptionValueSource('peakInstances') === 'cli') {
        throw new CliError(
          '--peak-instances scales the trace, --absolute replays it as is: give one of them',
          2,
        );
      }
      if ('file' in source) await readableFile('--trace', source.file);
      const trace = await readTrace(source).catch((err: unknown) => {
        // `line 3: …` alone did not say of which file (a .tbz2 names its workload.txt).
        if (err instanceof TraceError && err.line !== undefined && 'file' in source)
          throw new CliError(`${source.file}: ${err.message}`, 1);
        throw err;
      });
      // Replayed as it came, but not silently: a failed remote read or store leaves out traffic
      // (stderr, so that --json stays one object a line).
      for (const warning of trace.warnings ?? [])
        process.stderr.write(
          `scaleplane: warning: Prometheus answered with warnings, the replayed traffic may be partial: ${warning}\n`,
        );
      const length = trace.perSecond.length;
      const from = traceIndex('--from', flags.from, trace.start, length);
      const to = flags.to === undefined ? undefined : traceIndex('--to', flags.to, trace.start, length);
      if (to !== undefined && !(from < to))
        throw new CliError(`--from ${flags.from} is not before --to ${flags.to}`, 2);
      const end = to ?? length;
      if (!flags.absolute && !trace.perSecond.subarray(from, end).some((count) => count > 0))
        throw new CliError(
          `${label}: seconds [${from}, ${end}) hold no requests (every count is 0), so there is no peak to scale to --peak-instances; choose another --from/--to, or replay it as it is with --absolute`,
          2,
        );
      for (const [flag, file] of [
        ['--timeline', flags.timeline],
        ['--plot', flags.plot],
        ['--html', flags.html],
      ] as const) {
        if (file !== undefined) await writableFile(flag, file);
      }
      const timeline = flags.timeline ? createWriteStream(flags.timeline) : undefined;
      let buffer = '';
      timeline?.write('t,demand,ready,provisioned\n');
      const { demand, rows, results } = runExperiment(trace.perSecond, {
        from,
        ...(to === undefined ? {} : { to }),
        aggregate: flags.aggregate,
        peakInstances: flags.peakInstances,
        capacity: flags.capacity,
        ...run,
        absolute: flags.absolute ?? false,
        policies,
        withOracle: true,
        ...(timeline && {
          timeline: (t, d, ready, provisioned) => {
            buffer += `${t},${Math.round(d * 100) / 100},${ready},${provisioned}\n`;
            if (buffer.length > 1 << 16) {
              timeline.write(buffer);
              buffer = '';
            }
          },
        }),
      });
      if (timeline) {
        timeline.write(buffer);
        await new Promise<void>((resolve, reject) =>
          timeline.end((err?: Error | null) => (err ? reject(err) : resolve())),
        );
      }
      if (plot) {
        const series = [
          { name: 'demand', values: demand.rate },
          ...results.map((r) => ({
            name: `${r.policy} ready × capacity`,
            values: r.ready,
            scale: flags.capacity,
          })),
        ];
        const svg = renderSvg(series, { title: `${label} [${demand.from}, ${demand.to})` });
        await writeFile(plot.file, plot.format === '.png' ? await svgToPng(svg) : svg);
      }
      if (flags.html) {
        const { writeReplayHtml } = await import('../dashboard/index.js');
        await writeReplayHtml(
          flags.html,
          toReplaySeries(demand, results, {
            capacity: flags.capacity,
            title: `Replay of ${label}`,
            minInstances: run.min,
            maxInstances: run.max,
          }),
        );
      }
      const shown = flags.compare ? rows : rows.filter((r) => r.policy !== 'oracle' || policies.length === 0);
      if (flags.json) {
        for (const row of shown) console.log(JSON.stringify(row));
        return;
      }
      const peak = demand.rate.reduce((m, v) => Math.max(m, v), 0);
      const needed = Math.ceil(peak / (OVERLOAD * flags.capacity));
      const when =
        trace.start === undefined
          ? ''
          : ` from ${new Date((trace.start + demand.from) * 1000).toISOString()}`;
      console.log(
        `trace ${label}: seconds [${demand.from}, ${demand.to})${when} = ${((demand.to - demand.from) / 86400).toFixed(1)} days, ` +
          (flags.absolute
            ? `per-${flags.aggregate}s mean rate as is (--absolute), peak ${peak.toFixed(1)} req/s = ${needed} instances of ${flags.capacity} req/s at ${OVERLOAD * 100} %` +
              (needed > run.max ? ` (more than --max ${run.max})` : '')
            : `per-${flags.aggregate}s mean rate × ${demand.scale.toFixed(2)} so the peak is ${flags.peakInstances} × ${flags.capacity} req/s`) +
          `; startup ${run.startup}s, interval ${run.interval}s, instances ${run.min}..${run.max}` +
          (replay ? `; ${replay.policy.name} is groups.${flags.group} of ${flags.config}` : ''),
      );
      console.log(formatTable(shown));
      console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
    });
}

/** loadGroup loads `--config` and finds `--group` (both or neither), before any trace is read. */
async function loadGroup(flags: { config?: string; group?: string }): Promise<ConfiguredGroup | undefined> {
  if (flags.config === undefined && flags.group === undefined) return undefined;
  if (flags.config === undefined || flags.group === undefined) {
    throw new CliError(
      `${flags.config === undefined ? '--group' : '--config'} alone: --config FILE --group NAME replays that group's policy`,
      2,
    );
  }
  const { loadConfig } = await import('../config/index.js');
  const config = await loadConfig(flags.config);
  try {
    return configuredGroup(config, flags.group);
  } catch (err) {
    throw err instanceof SimConfigError ? new CliError(`${flags.config}: ${err.message}`, 2) : err;
  }
}

/** groupOf is the configured group's replay with the run's bounds and timing (seconds). */
function groupOf(
  configured: ConfiguredGroup,
  run: { min: number; max: number; startup: number; interval: number },
  file: string,
): PolicyReplay {
  const group = { ...configured.group, minInstances: run.min, maxInstances: run.max };
  try {
    return groupReplay(group, { startup: run.startup * 1000, interval: run.interval * 1000 });
  } catch (err) {
    throw err instanceof SimConfigError ? new CliError(`${file}: ${err.message}`, 2) : err;
  }
}

function formatTable(rows: readonly ExperimentRow[]): string {
  const head = ['policy', 'violation %', 'instance-hours', 'cost vs oracle'];
  const body = rows.map((r) => [
    r.policy,
    r.violation_pct.toFixed(2),
    r.instance_hours.toFixed(1),
    `${r.cost_vs_oracle.toFixed(2)}×`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cells) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** kebab is a flag's name as typed (`bearerTokenFile` → `bearer-token-file`). */
function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** headerFlag adds one `--header 'Name: value'` to those given before, refusing what is no header. */
function headerFlag(raw: string, prev: Record<string, string> | undefined): Record<string, string> {
  const colon = raw.indexOf(':');
  const name = colon > 0 ? raw.slice(0, colon).trim() : '';
  const value = colon > 0 ? raw.slice(colon + 1).trim() : '';
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value))
    throw new InvalidArgumentError(
      `not a header: ${JSON.stringify(raw)} (give 'Name: value', e.g. 'X-Scope-OrgID: tenant-1')`,
    );
  return { ...prev, [name]: value };
}
