#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isLoopback, loadTokenFile } from '../api/auth.js';
import { localTokenPorts } from '../api/token-file.js';
// Modules rather than barrels, and the config schema (zod) only in the commands that read a config:
// `status`, `scale`, `events` and `--version` then start in ~0.2 s instead of ~0.8 s.
import { ConfigError, type ConfigIssue, formatConfigErrorLine } from '../config/errors.js';
import type { Config } from '../config/types.js';
import type { GroupStatus, JournalEntry } from '../controller/index.js';
import type { LogLevel } from '../log/index.js';
import { registerMcp } from '../mcp/cli.js';
import { VERSION } from '../version.js';
import { ApiClient, ApiUnreachableError, CliError, otherApiHint } from './client.js';
import { formatBytes, formatEvents, formatScale, formatStatus } from './format.js';
import { registerNginx } from './nginx.js';
import { demoConfigNote } from './paths.js';
import { registerResize } from './resize.js';
import { registerSimulate } from './simulate.js';

const DEFAULT_API = 'http://127.0.0.1:9090';

/** signalExitCode is 128 + the signal's number: the exit code a shell or supervisor reads for it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 15);
}

/** parseCount reads `+N`, `-N` or `N` for `scaleplane scale`. */
export function parseCount(raw: string): { action: 'scale-out' | 'scale-in' | 'set'; instances: number } {
  const match = /^([+-]?)(\d{1,6})$/.exec(raw.trim());
  if (!match) throw new InvalidArgumentError('expected +N, -N or N (e.g. +2, -1, 3)');
  const instances = Number(match[2]);
  // The API refuses a step of 0 (`instances: must be >= 1`, exit 1): a usage error here, as `+x` is.
  if (match[1] !== '' && instances === 0)
    throw new InvalidArgumentError(`${match[1]}0 changes nothing: give +N or -N with N ≥ 1, or the count N`);
  if (match[1] === '+') return { action: 'scale-out', instances };
  if (match[1] === '-') return { action: 'scale-in', instances };
  return { action: 'set', instances };
}

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** USAGE_EXIT is the exit code of a usage error: commander's own and the CLI's (CliError(…, 2)) alike. */
const USAGE_EXIT = 2;

/** parseSeq reads a flag that takes a whole number ≥ 0 (`--since`), naming it when it is not one. */
export function parseSeq(raw: string): string {
  if (!/^\d{1,15}$/.test(raw.trim())) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return raw.trim();
}

/**
 * parseLimit reads `events --limit`, a whole number ≥ 1: `--limit 0` printed "(no events)" over a
 * journal that had entries (the API answers limit=0 with none), telling the user it was empty.
 */
export function parseLimit(raw: string): string {
  if (!/^\d{1,15}$/.test(raw.trim()) || Number(raw) === 0)
    throw new InvalidArgumentError('expected a whole number ≥ 1');
  return raw.trim();
}

/**
 * parseGroupFilter reads `events --group`. An empty name was dropped by the `if (opts.group)` and
 * printed every group's events, as if the filter held (the API answers 400 for `group=`).
 */
export function parseGroupFilter(raw: string): string {
  if (raw.trim() === '') throw new InvalidArgumentError('expected a group name, not an empty one');
  return raw;
}

/** parseLogLevel reads `--log-level`; anything else is a usage error naming the flag, not pino's. */
export function parseLogLevel(raw: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(raw))
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}`);
  return raw as LogLevel;
}

/**
 * refuseArguments refuses the arguments of a command that takes none (`up`, `validate`), and one
 * that names a YAML file is answered with the command to type: `scaleplane validate FILE` (as
 * promtool and nginx -t users write it) got "required option '-c, --config <file>' not
 * specified", and `up FILE` "too many arguments", with nothing about -c.
 */
function refuseArguments(command: Command): void {
  const [first] = command.args;
  if (first === undefined) return;
  const message =
    /\.ya?ml$/i.test(first) && command.opts().config === undefined
      ? `error: unexpected argument '${first}': give the config file with -c: scaleplane ${command.name()} -c ${first}`
      : `error: too many arguments for '${command.name()}'. Expected 0 arguments but got ${command.args.length}.`;
  command.error(message, { exitCode: USAGE_EXIT, code: 'commander.excessArguments' });
}

/**
 * missingCwds are the `cwd`s of local groups that are not a folder, each at its line: the short
 * form writes `cwd` at the top, the full form in its group.
 */
async function missingCwds(config: Config): Promise<ConfigIssue[]> {
  const { lineInFile } = await import('../config/index.js');
  const issues: ConfigIssue[] = [];
  let shortForm: boolean | undefined;
  for (const group of Object.values(config.groups)) {
    if (group.provider.provider !== 'local') continue;
    const { cwd } = group.provider;
    let isFolder = false;
    try {
      isFolder = (await stat(cwd)).isDirectory();
    } catch {}
    if (isFolder) continue;
    if (config.source === undefined) continue;
    shortForm ??= await isShortForm(config.source);
    const path = shortForm ? ['cwd'] : ['groups', group.name, 'cwd'];
    const line = await lineInFile(config.source, path);
    issues.push({
      path: path.join('.'),
      ...(line === undefined ? {} : { line }),
      message: `${existsSync(cwd) ? 'not a folder' : 'no such folder'}: ${cwd} (up would start no instance of ${group.name})`,
    });
  }
  return issues;
}

/** isShortForm: the file has no top-level `groups` (see the config's detectForm). */
async function isShortForm(source: string): Promise<boolean> {
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(await readFile(source, 'utf8'));
  return !doc.has('groups');
}

/** unknownGroupMessage is the usage error for `--group NAME` naming no group of the running Scaleplane. */
function unknownGroupMessage(group: string, groups: readonly string[]): string {
  const known = groups.length === 0 ? 'it has no groups' : `its groups: ${groups.join(', ')}`;
  return `--group ${group}: no such group in the running Scaleplane (${known})`;
}

function buildProgram(): Command {
  const program = new Command('scaleplane')
    .description('Keep a web service fast and up while its traffic grows and shrinks.')
    .version(VERSION, '-V, --version', 'print the version')
    .configureOutput({ outputError: (str, write) => write(str) })
    // Throw instead of exiting, so a usage error exits USAGE_EXIT like the CLI's own (see the catch
    // at the bottom). Set before any subcommand: they copy it when created.
    .exitOverride();

  program
    .command('up')
    .description('run the balancer, the controller and the control API (no -c: the bundled demo)')
    .option('-c, --config <file>', 'config file (default: the bundled demo config)')
    .option('--log-level <level>', LOG_LEVELS.join(', '), parseLogLevel, 'info')
    .allowExcessArguments()
    .action(async (opts: { config?: string; logLevel: LogLevel }, command: Command) => {
      refuseArguments(command);
      const { Scaleplane, StartInterruptedError } = await import('../app.js');
      const { defaultConfigPath, loadConfig } = await import('../config/index.js');
      const { createLogger } = await import('../log/index.js');
      const logger = createLogger({ level: opts.logLevel });
      const file = opts.config ?? defaultConfigPath();
      const config = await loadConfig(file);
      logger.info(`config ${file}`);
      if (opts.config === undefined) {
        const note = demoConfigNote(process.cwd(), file, existsSync);
        if (note !== undefined) logger.warn(note);
      }
      // Installed before start, so an early SIGHUP is not the default "terminate".
      let app: Awaited<ReturnType<typeof Scaleplane.start>> | undefined;
      let stopping = false;
      process.on('SIGHUP', () => {
        // Reload re-reads the file and applies what it can; a bad file is logged and changes nothing.
        if (app === undefined) logger.warn('SIGHUP while starting: ignored, send it again once up');
        else if (!stopping) app.reload('SIGHUP').catch(() => {});
      });
      // SIGTERM/SIGINT are handled from before start too: with the default action a signal during
      // start-up (instances starting, health checks pending) killed the process at once, leaving
      // the instances to the reaper's SIGKILL (no drain) or, with a state store, running. Now the
      // first one aborts the start (what was started is stopped as on a normal stop) or, once up,
      // drains and stops; a second one forces the exit.
      const interrupt = new AbortController();
      let stopped: (() => void) | undefined;
      let signalled: NodeJS.Signals | undefined;
      // A shutdown that failed (an instance that outlived SIGKILL) exited 0, as if all had stopped:
      // a supervisor (systemd, a script) could not tell. It is now exit 1 with what failed.
      let shutdownFailure: Error | undefined;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          logger.warn(`${signal} again: exiting now`);
          process.exit(signalExitCode(signal));
        }
        stopping = true;
        signalled = signal;
        if (app === undefined) {
          logger.info(
            `${signal} while starting: interrupting the start, stopping what was started (again to force)`,
          );
          interrupt.abort(signal);
          return;
        }
        logger.info(`${signal}: draining and stopping every instance (again to force)`);
        app.close().then(stopped, (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          shutdownFailure = err as Error;
          stopped?.();
        });
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      try {
        app = await Scaleplane.start({ config, logger, signal: interrupt.signal });
      } catch (err) {
        if (!(err instanceof StartInterruptedError)) throw err;
        logger.warn(`start interrupted by ${signalled}: stopped what was started`);
        // 128 + the signal's number, as a process killed by it would report (systemd, Kubernetes).
        process.exit(signalExitCode(signalled ?? 'SIGTERM'));
      }
      await new Promise<void>((resolve) => {
        stopped = resolve;
      });
      if (shutdownFailure !== undefined) {
        const message = shutdownFailure.message.replace(/^shutdown failed: /, '');
        throw new CliError(`shutdown failed: ${message}`);
      }
      logger.info('stopped');
    });

  program
    .command('validate')
    .description('check a config file and print what it means')
    // Not requiredOption: commander checks that first, and `validate FILE` got only "required
    // option … not specified", where refuseArguments says to write `-c FILE`.
    .option('-c, --config <file>', 'config file (required)')
    .option('--json', 'print the resolved config as JSON')
    .allowExcessArguments()
    .action(async (opts: { config?: string; json?: boolean }, command: Command) => {
      refuseArguments(command);
      if (opts.config === undefined)
        command.error("error: required option '-c, --config <file>' not specified", {
          exitCode: USAGE_EXIT,
          code: 'commander.missingMandatoryOptionValue',
        });
      const { loadConfig } = await import('../config/index.js');
      const config = await loadConfig(opts.config);
      // `up` starts no instance of a local group whose cwd is missing (each start fails with
      // `cannot start: cwd … does not exist`), and this said "valid".
      const cwds = await missingCwds(config);
      if (cwds.length > 0) throw new ConfigError(cwds, { source: config.source });
      // `up` reads the token file at start, not loadConfig: read it here too, so a file that `up`
      // would refuse (a short token, a bad role, unreadable) is not called valid.
      if (config.api.tokenFile !== undefined) await loadTokenFile(config.api.tokenFile);
      // Likewise balancer.cloudflare.token_file, which purges read (a missing env token is only
      // warned of: the environment `up` runs in may differ from this shell's).
      const { checkCloudflareToken } = await import('../balancer/cache/cloudflare.js');
      const cloudflare = await checkCloudflareToken(config.balancer.cloudflare, process.env);
      if (cloudflare.warning !== undefined) console.error(`warning: ${cloudflare.warning}`);
      // A port_range sharing ports with the kernel's ephemeral range is accepted (it is this
      // machine's setting, and `up` may run elsewhere) but may lose ports to bind(0) and connect().
      const { portRangeWarning, readEphemeralRange } = await import('../providers/local/index.js');
      const ephemeral = readEphemeralRange();
      for (const group of Object.values(config.groups)) {
        if (group.provider.provider !== 'local' || group.provider.portRange === undefined) continue;
        const field = `groups.${group.name}.port_range`;
        const warning = portRangeWarning(field, group.provider.portRange, ephemeral);
        if (warning !== undefined) console.error(`warning: ${warning}`);
      }
      if (opts.json) {
        console.log(JSON.stringify(config, null, 2));
        return;
      }
      const groups = Object.values(config.groups)
        .map((g) => {
          const scaling = g.scaling
            ? `scaled on ${g.scaling.metrics
                .map((m) =>
                  m.type === 'memory' && m.targetType === 'AverageValue'
                    ? `memory average_value ${formatBytes(m.target)}`
                    : `${m.type} target ${m.target}`,
                )
                .join(', ')}`
            : 'scaled by hand';
          // mode: hpa writes an HPA on cpu (80 % unless a cpu metric says): Kubernetes scales the
          // group even without `scaling`, which read "scaled by hand".
          const hpa =
            g.provider.provider === 'kubernetes' && g.provider.mode === 'hpa'
              ? `scaled by its HorizontalPodAutoscaler on cpu target ${g.scaling?.metrics.find((m) => m.type === 'cpu')?.target ?? 80} (mode: hpa)`
              : undefined;
          const what = g.provider.provider === 'local' ? g.provider.command : `${g.provider.provider}`;
          return `  group ${g.name}: ${what} (${g.minInstances}..${g.maxInstances}, ${hpa ?? scaling})`;
        })
        .join('\n');
      console.log(`${opts.config}: valid\n${groups}`);
    });

  program
    .command('schema')
    .description(
      'print the JSON Schema of scaleplane.yaml, for editors (# yaml-language-server: $schema=FILE) and CI',
    )
    .action(async () => {
      const { configJsonSchema } = await import('../config/index.js');
      console.log(JSON.stringify(configJsonSchema(), null, 2));
    });

  program
    .command('status')
    .description('show groups, instances and the last decision of a running Scaleplane')
    .argument('[group]', 'only this group')
    .option('--api <url>', 'control API URL', DEFAULT_API)
    .option('--json', 'print JSON')
    .action(async (group: string | undefined, opts: { api: string; json?: boolean }) => {
      const client = await ApiClient.connect(opts.api);
      const groups = group
        ? [
            await client.object<GroupStatus>('GET', `/api/scalability/groups/${encodeURIComponent(group)}`, [
              'name',
              'instances',
              'metrics',
            ]),
          ]
        : await client.list<GroupStatus>('/api/scalability/groups', 'groups');
      console.log(opts.json ? JSON.stringify(groups, null, 2) : formatStatus(groups));
    });

  program
    .command('scale')
    .description('scale a group by hand: +N adds, -N removes, N sets the count')
    .argument('<group>', 'group name')
    .argument('<count>', '+N, -N or N', parseCount)
    .option('--api <url>', 'control API URL', DEFAULT_API)
    .option('--json', 'print the API answer as JSON ({group, previous, desired})')
    .action(
      async (group: string, count: ReturnType<typeof parseCount>, opts: { api: string; json?: boolean }) => {
        const client = await ApiClient.connect(opts.api);
        const result = await client.object<{ previous: number; desired: number }>(
          'POST',
          '/api/scalability/scale-group',
          ['previous', 'desired'],
          { group, ...count },
        );
        console.log(opts.json ? JSON.stringify(result, null, 2) : formatScale(group, result));
      },
    );

  program
    .command('events')
    .description('print the decision journal: every scaling and why')
    .option('--group <name>', 'only this group', parseGroupFilter)
    .option('--since <seq>', 'only entries after this sequence number', parseSeq)
    .option('--limit <n>', 'newest N entries (with --since: the first N after it)', parseLimit, '50')
    .option('--api <url>', 'control API URL', DEFAULT_API)
    .option('--json', 'print JSON')
    .action(async (opts: { group?: string; since?: string; limit: string; api: string; json?: boolean }) => {
      const client = await ApiClient.connect(opts.api);
      const query = new URLSearchParams({ limit: opts.limit });
      if (opts.group) query.set('group', opts.group);
      if (opts.since) query.set('since', opts.since);
      const events = await client.list<JournalEntry>(`/api/scalability/events?${query}`, 'events');
      // The journal filters by name without knowing the groups: "(no events)" for a typo would say
      // the group is quiet. The journal may hold entries of a group a reload removed, so ask only then.
      if (opts.group && events.length === 0) {
        const groups = await client.list<GroupStatus>('/api/scalability/groups', 'groups');
        const names = groups.map((g) => g.name);
        if (!names.includes(opts.group)) throw new CliError(unknownGroupMessage(opts.group, names), 2);
      }
      console.log(opts.json ? JSON.stringify(events, null, 2) : formatEvents(events));
    });

  registerSimulate(program);
  registerMcp(program);
  registerNginx(program);
  registerResize(program, DEFAULT_API);
  program.addHelpText('after', `\n${TOKEN_HELP}\n\n${EXIT_HELP}`);
  for (const command of apiCommands(program)) command.addHelpText('after', `\n${TOKEN_HELP}`);
  withHelpHints(program);
  return program;
}

/**
 * withHelpHints has every command follow a usage error with one line naming its --help, as git and
 * kubectl do: the whole help after it (showHelpAfterError()) pushed the error, the one line that
 * mattered, up and out of view. Set last, on every command: a hint names the command that failed.
 */
function withHelpHints(command: Command, path: readonly string[] = []): void {
  command.showHelpAfterError(`See '${['scaleplane', ...path, '--help'].join(' ')}'.`);
  for (const sub of command.commands) withHelpHints(sub, [...path, sub.name()]);
}

/**
 * TOKEN_HELP says where the API commands get their token: `--help` named no way to authenticate,
 * so a 401 sent its reader to the README.
 */
const TOKEN_HELP = `Token (commands that take --api):
  $SCALEPLANE_API_KEY, else the file $SCALEPLANE_API_KEY_FILE names (a Docker or Kubernetes
  secret), else $SERVICE_API_KEY; else, for an API on this machine, the file
  scaleplane-api-PORT.token in $TMPDIR (or /tmp) that \`scaleplane up\` leaves when it generates one.`;

/** EXIT_HELP is the exit status a script can rely on. */
const EXIT_HELP = `Exit status:
  0 success; 1 a failure (the API unreachable or refusing, an invalid config);
  2 a usage error (an unknown command or option, a bad argument).
Environment: NO_COLOR turns off colour in the terminal log of \`scaleplane up\`.`;

/** apiCommands are the commands, at any depth, that talk to the control API (they take --api). */
function apiCommands(command: Command): Command[] {
  return command.commands.flatMap((sub) => [
    ...(sub.options.some((option) => option.long === '--api') ? [sub] : []),
    ...apiCommands(sub),
  ]);
}

/**
 * withNegativeCounts lets `scale web -2` through: commander would read `-2` as an option, so it is
 * moved behind a `--` at the end, where options that followed it still parse.
 */
function withNegativeCounts(argv: string[]): string[] {
  const at = argv.indexOf('scale');
  if (at === -1 || argv.includes('--')) return argv;
  const negative = argv.findIndex((arg, i) => i > at && /^-\d+$/.test(arg));
  if (negative === -1) return argv;
  return [...argv.slice(0, negative), ...argv.slice(negative + 1), '--', argv[negative]!];
}

// A reader that went away (`scaleplane nginx render | head -1`, a closed MCP client) is the end of
// the output, not a crash: a write straight to process.stdout threw an unhandled 'error' event, a
// stack trace and exit 1 (console.log already ignores it). `up` logs through its own fd-1 writer.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

/** apiDefaulted: the command running was not given `--api` (see otherApiHint). */
let apiDefaulted = false;

try {
  const program = buildProgram().hook('preAction', (_program, command) => {
    apiDefaulted = command.getOptionValueSource('api') === 'default';
  });
  await program.parseAsync(withNegativeCounts(process.argv));
} catch (err) {
  // Commander printed the message (and the help) already; --help and --version are not errors.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : USAGE_EXIT);
  if (err instanceof ConfigError) {
    console.error(formatConfigErrorLine(err));
    process.exit(1);
  }
  if (
    err instanceof ApiUnreachableError &&
    err.code === 'ECONNREFUSED' &&
    apiDefaulted &&
    isLoopback(err.baseUrl.hostname)
  ) {
    const hint = otherApiHint(err.baseUrl, await localTokenPorts());
    if (hint !== undefined) err.message = `${err.message}; ${hint}`;
  }
  if (err instanceof CliError) {
    console.error(`scaleplane: ${err.message}`);
    process.exit(err.exitCode);
  }
  console.error(`scaleplane: ${(err as Error).message ?? err}`);
  process.exit(1);
}
