import { setTimeout as delay } from 'node:timers/promises';
import {
  type AlertManager,
  alertKeys,
  createAlertManager,
  groupHealthy,
  type InheritFacts,
  inheritOpenAlerts,
  keepOpenAlerts,
  reconfigureAlertManager,
  SinkConfigError,
  watchForAlerts,
} from './alerts/index.js';
import {
  ApiServer,
  type ApiToken,
  AuthConfigError,
  generateToken,
  isLoopback,
  loadTokenFile,
  MIN_TOKEN_LENGTH,
  removeTokenFile,
  tokenFileWarnings,
  tokenFromEnv,
  writeTokenFile,
} from './api/index.js';
import { Balancer, CachePurger, checkCloudflareToken, NginxDriver, nginxTimeouts } from './balancer/index.js';
import { monotonicNow } from './clock.js';
import {
  type Config,
  ConfigError,
  formatListen,
  type GroupConfig,
  type HostPort,
  lineInFile,
  loadConfig,
  planReload,
  tlsIssues,
} from './config/index.js';
import { groupUpLine } from './controller/group-up.js';
import {
  Controller,
  crashEntry,
  crashLoopEntry,
  DecisionJournal,
  GroupController,
  HighAvailability,
  InstanceHealthWatch,
  PolicyMemoryFile,
  policyMemoryPath,
} from './controller/index.js';
import type { Logger } from './log/index.js';
import {
  createCpuSource,
  createMetricSource,
  createMetrics,
  DEFAULT_READ_TIMEOUT_MS,
  GroupReadings,
  requestDurationBuckets,
  type ScaleplaneMetrics,
} from './metrics/index.js';
import { addressInUse, ensurePortFree, isAddressInUse } from './port-holder.js';
import {
  CpuSampler,
  type CreateProviderOptions,
  configSecretEnv,
  createProvider,
  MemorySampler,
  type Provider,
  ProviderError,
} from './providers/index.js';

/** CPU_SAMPLE_INTERVAL_MS is how often local instances' CPU is read; the policy averages over its window. */
const CPU_SAMPLE_INTERVAL_MS = 1000;

/** MEMORY_MAX_AGE_MS is how old the latest memory sample of an instance may be before it counts as missing. */
const MEMORY_MAX_AGE_MS = 3 * CPU_SAMPLE_INTERVAL_MS;

/** ScaleplaneOptions are what `scaleplane up` (or an embedding program) passes in. */
export interface ScaleplaneOptions {
  config: Config;
  logger: Logger;
  /** Where the API token comes from. @defaultValue process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Aborting it during start stops the start cleanly: what was started is closed as by close()
   * (instances drained and stopped, or with a lease handed over) and start rejects with
   * StartInterruptedError. `scaleplane up` aborts it on SIGTERM/SIGINT. @defaultValue none
   */
  signal?: AbortSignal;
}

/** ReloadResult says what a config reload applied and what waits for a restart. */
export interface ReloadResult {
  source: string;
  /** YAML paths applied now, such as `groups.web.max_instances`. */
  applied: string[];
  /** YAML paths that changed but need a restart; their running values are kept. */
  needsRestart: string[];
}

/** StartupError: Scaleplane refuses to start as configured (e.g. an API beyond loopback with no token). */
export class StartupError extends Error {
  readonly code = 'SCALEPLANE_STARTUP_REFUSED';
}

/** StartInterruptedError: start was aborted (options.signal) before it finished; what it started is closed. */
export class StartInterruptedError extends Error {
  readonly code = 'SCALEPLANE_START_INTERRUPTED';
  constructor(cause?: unknown) {
    super('start interrupted: what was started has been stopped', { cause });
  }
}

/**
 * ReloadDuringShutdownError: a config reload asked (SIGHUP, the API) while close() runs, or that was
 * still reading the file when close() began. Refused whole, as NGINX ignores a reload once it quits.
 */
export class ReloadDuringShutdownError extends Error {
  readonly code = 'SCALEPLANE_SHUTTING_DOWN';
  constructor() {
    super('config reload refused: Scaleplane is shutting down, nothing changed');
  }
}

/**
 * ShutdownError: close() ran to its end, but part of the shutdown failed (an instance that outlived
 * SIGKILL, a step that threw). `failures` holds each, in the order they came.
 */
export class ShutdownError extends Error {
  readonly code = 'SCALEPLANE_SHUTDOWN_FAILED';
  constructor(readonly failures: readonly Error[]) {
    super(
      `shutdown failed: ${failures.map((f) => describeShutdownFailure(f)).join('; ')}`,
      failures.length === 1 ? { cause: failures[0] } : { cause: new AggregateError(failures) },
    );
  }
}

/** latencyTargets are the targets (ms) of every group's `latency` scaling metric. */
function latencyTargets(config: Config): number[] {
  return Object.values(config.groups).flatMap((group) =>
    (group.scaling?.metrics ?? []).flatMap((metric) => (metric.type === 'latency' ? [metric.target] : [])),
  );
}

/** describeShutdownFailure is one failure and, when it has one, its cause, on one line. */
function describeShutdownFailure(err: Error): string {
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`.replace(/\s*\n\s*/g, ' ');
}

/**
 * Scaleplane is the running system: balancer, providers, controller and API, wired together.
 * `start` brings everything up in order; `close` drains and stops it in reverse.
 */
export class Scaleplane {
  /** The running config: as loaded, then with each reload's applicable changes (see planReload). */
  config: Config;
  readonly metrics: ScaleplaneMetrics;
  readonly balancer: Balancer;
  /** Set when `balancer.nginx` is configured: keeps NGINX's upstreams in step with membership. */
  readonly nginx: NginxDriver | undefined;
  readonly controller: Controller;
  readonly providers = new Map<string, Provider>();
  /** Alerts of this system (crash loops, blocked at max, failed health checks); other modules may fire their own. */
  readonly alerts: AlertManager;
  /** The admin token from the environment, or the one generated for a loopback API with none configured. */
  readonly token: string | undefined;
  readonly tokenGenerated: boolean;
  balancerAddress: HostPort | undefined;
  apiAddress: HostPort | undefined;
  readonly #api: ApiServer;
  readonly #logger: Logger;
  readonly #env: NodeJS.ProcessEnv;
  /** Reloads run one at a time, in order. */
  #reloading: Promise<unknown> = Promise.resolve();
  readonly #cpuTimer: NodeJS.Timeout;
  readonly #healthWatch: InstanceHealthWatch;
  /** Persistence and leader election (`controller.state`, `controller.lease`); inert without them. */
  readonly #ha: HighAvailability;
  /** Per service group: give the balancer (and NGINX) what the group routes to now. */
  readonly #route = new Map<string, () => void>();
  /** Per group: what reads its metrics (CPU/memory windows, polled sources); swapped by a reload. */
  readonly #readings = new Map<string, GroupReadings>();
  /** Builds a group's readings (keeping `previous`'s CPU window when it still fits). */
  readonly #readingsOf: (group: GroupConfig, previous?: GroupReadings) => GroupReadings;
  #closing: Promise<void> | undefined;
  /**
   * What failed while close() ran (a provider's 'error' events, a step that threw): reported by
   * close() as a ShutdownError, so `scaleplane up` does not exit 0 after an instance outlived it.
   */
  #shutdownFailures: Error[] | undefined;
  /** Set once close() closed the balancer, before the instances drain: it takes no group update then. */
  #balancerClosed = false;

  private constructor(options: ScaleplaneOptions, fileTokens: readonly ApiToken[], ha: HighAvailability) {
    const { config, logger } = options;
    this.config = config;
    this.#logger = logger;
    this.#ha = ha;
    this.#env = options.env ?? process.env;
    const envToken = tokenFromEnv(options.env ?? process.env);
    if (!envToken && fileTokens.length === 0 && !isLoopback(config.api.listen.host)) {
      throw new StartupError(
        `api.listen is ${config.api.listen.host}, beyond loopback, and no API token is set: ` +
          'export SCALEPLANE_API_KEY=<a long random secret> (or SCALEPLANE_API_KEY_FILE=<a file holding it>), set api.token_file, ' +
          'or listen on 127.0.0.1',
      );
    }
    // The token file's rule, for the one token that can open an API to the network.
    if (envToken && envToken.length < MIN_TOKEN_LENGTH && !isLoopback(config.api.listen.host))
      throw new StartupError(
        `api.listen is ${config.api.listen.host}, beyond loopback, and the API token in the environment is ` +
          `${envToken.length} characters: use at least ${MIN_TOKEN_LENGTH} (openssl rand -hex 24)`,
      );
    this.tokenGenerated = !envToken && fileTokens.length === 0;
    this.token = envToken ?? (this.tokenGenerated ? generateToken() : undefined);
    // The latency metric reads this histogram: its buckets must be fine around each latency target.
    this.metrics = createMetrics({ requestDurationBuckets: requestDurationBuckets(latencyTargets(config)) });
    this.balancer = new Balancer({
      config: config.balancer,
      metrics: this.metrics,
      logger: logger.child({ component: 'balancer' }),
      routes: config.routes,
    });
    this.nginx =
      config.balancer.nginx === undefined
        ? undefined
        : new NginxDriver({
            config: config.balancer.nginx,
            timeouts: nginxTimeouts(config.balancer),
            logger: logger.child({ component: 'nginx' }),
          });
    this.nginx?.on('error', () => {}); // logged by the driver, alerted below; the driver retries with backoff

    const sampler = new CpuSampler();
    const memorySampler = new MemorySampler();
    this.#readingsOf = (group, previous) => {
      const groupLogger = logger.child({ group: group.name });
      const provider = this.providers.get(group.name)!;
      return new GroupReadings(
        {
          group,
          instances: () => provider.instances(),
          sampleCpu: (pgids, now) => sampler.sample(pgids, now),
          sampleMemory: (pgids) =>
            new Map([...memorySampler.sample(pgids)].map(([pgid, reading]) => [pgid, reading.bytes])),
          memoryMaxAge: MEMORY_MAX_AGE_MS,
          // Pods are no local processes: their CPU and memory come from the engine (metrics-server),
          // unless the engine's own autoscaler (the HPA in mode: hpa) decides, reading them itself.
          readPodUsage: (provider as { autoscaled?: boolean }).autoscaled
            ? undefined
            : provider.readPodUsage?.bind(provider),
          createSource: (metric) =>
            createMetricSource(metric, { balancer: this.balancer, registry: this.metrics.registry }),
          createCpuSource: () => createCpuSource(group),
          interval: Math.min(config.controller.interval, 1000),
          onSourceError: (err, source, label) => {
            // By label, not type: two metrics of one type each have their own alert.
            const key = alertKeys.metricSource(group.name, label);
            if (err) {
              groupLogger.warn({ err, metric: label }, `metric ${label} failed; treated as missing`);
              this.alerts.fire(key, {
                severity: 'warning',
                group: group.name,
                summary: `metric ${label} of group ${group.name} failed (${err.message}); treated as missing, so no scale-down`,
                details: { metric: source.name, ...(label !== source.name && { label }) },
              });
            } else {
              groupLogger.info({ metric: label }, `metric ${label} recovered`);
              this.alerts.resolve(key, `metric ${label} of group ${group.name} recovered`);
            }
          },
        },
        previous,
      );
    };
    const journal = new DecisionJournal(config.controller.journalSize);
    const groups: GroupController[] = [];
    for (const group of Object.values(config.groups)) {
      const provider = this.#createProvider(group.name);
      this.providers.set(group.name, provider);
      this.#readings.set(group.name, this.#readingsOf(group));
      const groupLogger = logger.child({ group: group.name });
      groups.push(
        new GroupController({
          config: group,
          provider,
          journal,
          metrics: this.metrics,
          logger: groupLogger,
          readMetrics: (instances, now) => this.#readings.get(group.name)?.read(instances, now) ?? [],
          takeSamples: () => this.#readings.get(group.name)?.takeSamples() ?? [],
          samplesComplete: () => this.#readings.get(group.name)?.samplesComplete ?? false,
          interval: config.controller.interval,
          // Beside the config file; a config built in code (tests, embedding) keeps it in memory.
          ...(config.source && { memory: new PolicyMemoryFile(policyMemoryPath(config.source, group.name)) }),
        }),
      );
    }
    this.#ha.onRoutingChange((group) => this.#route.get(group)?.());
    this.#cpuTimer = setInterval(() => {
      // The controller's clock: its decisions read these samples' windows (see GroupReadings.sample).
      const now = monotonicNow();
      for (const readings of this.#readings.values()) readings.sample(now);
    }, CPU_SAMPLE_INTERVAL_MS);
    this.#cpuTimer.unref();

    this.controller = new Controller({
      config,
      groups,
      journal,
      logger: logger.child({ component: 'controller' }),
      backends: (name) => (config.groups[name]?.role === 'worker' ? [] : this.balancer.stats(name).backends),
    });
    // Health transitions, ejections and recoveries go to the journal; failing instances get replaced.
    this.#healthWatch = new InstanceHealthWatch({
      journal,
      provider: (name) => (config.groups[name]?.role === 'service' ? this.providers.get(name) : undefined),
      backends: (name) => this.balancer.stats(name).backends,
      replaceAfter: config.balancer.health.replaceAfter ?? 30_000,
      panicThreshold: config.balancer.outlier.panicThreshold,
      interval: Math.min(config.balancer.health.interval, 1000),
      logger: logger.child({ component: 'health' }),
    });
    this.balancer.on('health', (event) => this.#healthWatch.onHealth(event));
    this.balancer.on('ejection', (event) => this.#healthWatch.onEjection(event));
    this.balancer.on('recovery', (event) => this.#healthWatch.onRecovery(event));
    journal.on('entry', (entry) => {
      // Not a change of count: health news, leadership, a learnt start-up.
      if (entry.source === 'health' || entry.source === 'leader' || entry.reasons.includes('StartupLearnt')) {
        logger.info({ group: entry.group, reasons: entry.reasons, ...entry.inputs }, entry.message);
        return;
      }
      const level = entry.source === 'startup' ? 'debug' : 'info';
      logger[level](
        {
          group: entry.group,
          before: entry.before,
          after: entry.after,
          reasons: entry.reasons,
          source: entry.source,
        },
        `scale ${entry.group} ${entry.message}`,
      );
    });
    this.alerts = createAlertManager(config.alerts, {
      logger: logger.child({ component: 'alerts' }),
      env: options.env ?? process.env,
      // With a lease only the leader notifies (HighAvailability says when it leads): every
      // controller sees the same instances fail and metrics break, and one event is one notification.
      notifying: this.#ha.lease === undefined,
    });
    watchForAlerts(this.alerts, {
      providers: this.providers,
      journal,
      balancer: this.balancer,
      ...(this.nginx && { nginx: this.nginx }),
    });
    // What the receivers show firing outlives this controller: its successor resolves what no longer holds.
    const state = this.#ha.state;
    if (state)
      keepOpenAlerts(
        this.alerts,
        state,
        () => this.#ha.leading,
        (err, alert) => logger.error({ err, alert: alert.key }, 'could not keep an alert in the state store'),
      );
    this.#api = new ApiServer({
      listen: config.api.listen,
      ...(config.api.tls !== undefined && { tls: config.api.tls }),
      ...(this.token !== undefined && { token: this.token }),
      tokens: fileTokens,
      authFailuresPerMinute: config.api.authFailuresPerMinute,
      scaleRequestsPerMinute: config.api.scaleRequestsPerMinute,
      publicMetrics: config.api.publicMetrics,
      maxStreamsPerToken: config.api.maxStreamsPerToken,
      maxStreams: config.api.maxStreams,
      controller: this.controller,
      ...((this.balancer.caching || config.balancer.cloudflare !== undefined) && {
        cachePurger: new CachePurger({
          purgeLocal: (selector) => this.balancer.purgeCache(selector),
          ...(config.balancer.cloudflare !== undefined && { cloudflare: config.balancer.cloudflare }),
          env: options.env ?? process.env,
        }),
      }),
      registry: this.metrics.registry,
      logger: logger.child({ component: 'api' }),
      ...(config.source !== undefined && { reload: (by: string) => this.reload(by) }),
    });
  }

  /**
   * start brings Scaleplane up: the API listening, every group at its count (adopted or started),
   * then the balancer listening (at `balancer.warmup_timeout` at the latest).
   */
  static async start(options: ScaleplaneOptions): Promise<Scaleplane> {
    const fileTokens = options.config.api.tokenFile ? await loadTokenFile(options.config.api.tokenFile) : [];
    for (const warning of await tokenFileWarnings(options.config.api.tokenFile, options.env ?? process.env))
      options.logger.warn({ component: 'api' }, warning);
    const cloudflare = await checkCloudflareToken(
      options.config.balancer.cloudflare,
      options.env ?? process.env,
    );
    if (cloudflare.warning !== undefined) options.logger.warn({ component: 'cache' }, cloudflare.warning);
    const { signal } = options;
    if (signal?.aborted) throw new StartInterruptedError(signal.reason);
    const ha = await HighAvailability.open(options.config, options.logger.child({ component: 'controller' }));
    let app: Scaleplane;
    try {
      if (signal?.aborted) throw new StartInterruptedError(signal.reason);
      app = new Scaleplane(options, fileTokens, ha);
    } catch (err) {
      await ha.close();
      throw err;
    }
    // An abort does not wait for the start to get anywhere: instances may be starting and their
    // health checks pending for a long time. close() then runs beside the start still under way
    // (the providers' scale to 0 supersedes their scale up, which then resolves), and #start
    // checks #closing before opening anything more.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      onAbort = () => reject(new StartInterruptedError(signal.reason));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    const starting = app.#start();
    try {
      await Promise.race([starting, aborted]);
    } catch (err) {
      await app.close();
      // Settled after close (its scaleTo superseded, its listen refused): nothing of it is left open.
      await starting.catch(() => {});
      throw err;
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    return app;
  }

  /** openUnlessClosing throws once close() began: a start that was interrupted opens nothing more. */
  #openUnlessClosing(): void {
    if (this.#closing) throw new StartInterruptedError();
  }

  async #start(): Promise<void> {
    const logger = this.#logger;
    this.apiAddress = await this.#api.listen().catch(async (err: unknown) => {
      throw isAddressInUse(err) ? await addressInUse('api.listen', this.config.api.listen, err) : err;
    });
    this.#openUnlessClosing();
    // Before any instance starts: the balancer binds only once its groups are up.
    await ensurePortFree('balancer.listen', this.config.balancer.listen);
    this.#openUnlessClosing();
    logger.info(
      { address: this.apiAddress },
      `control API on ${this.config.api.tls ? 'https' : 'http'}://${formatListen(this.apiAddress)}/api/scalability, metrics on /metrics`,
    );
    if (this.tokenGenerated && this.token) {
      // The log names the file, not the secret: logs travel to places a 0600 file does not. Only
      // when the file cannot be written is the token shown, or no one could use the API.
      try {
        const path = await writeTokenFile(this.apiAddress.port, this.token);
        logger.info(
          `no SCALEPLANE_API_KEY set: generated an API token, saved to ${path} (mode 0600) for the CLI; ` +
            'export SCALEPLANE_API_KEY to choose your own',
        );
      } catch (err) {
        logger.warn(
          `no SCALEPLANE_API_KEY set: generated API token ${this.token}, not saved (${(err as Error).message}); ` +
            'export SCALEPLANE_API_KEY to choose your own',
        );
      }
    }
    const started = this.#ha.start({
      controller: this.controller,
      registry: this.metrics.registry,
      apiAddress: formatListen(this.apiAddress),
      onLeading: (leading) => this.alerts.setNotifying(leading),
      onLed: () => void this.#inheritAlerts(),
    });
    // The balancer's port opens once the groups are up — after a restart, once the adopted
    // instances passed their health check — or at `warmup_timeout`, whichever comes first (a group
    // with no healthy instance must not keep the port shut). Until then a client is refused at
    // connect, which every client and load balancer in front retries elsewhere or again (NGINX
    // `proxy_next_upstream error`, Envoy `connect-failure`, HAProxy `redispatch`), as it already
    // does while the old process is gone; a 503 is an answer, passed on to the user. This is Envoy's
    // cluster warming (listeners wait for the first health check round), not NGINX's "a new server
    // is up until it fails": an adopted process may have hung or died while no controller watched,
    // and only its health check says which. A standby (lease held elsewhere) starts nothing and
    // opens at once.
    const up = await settlesWithin(started, this.config.balancer.warmupTimeout ?? 10_000);
    this.#openUnlessClosing();
    this.balancerAddress = await this.balancer.listen().catch(async (err: unknown) => {
      // Taken since the check above (another program bound it while the groups started).
      throw isAddressInUse((err as Error).cause)
        ? await addressInUse('balancer.listen', this.config.balancer.listen, err)
        : err;
    });
    const { tls, http2 } = this.config.balancer;
    logger.info(
      { address: this.balancerAddress, warm: up, http2: tls !== undefined && http2 !== false },
      `balancer listening on ${tls ? 'https' : 'http'}://${formatListen(this.balancerAddress)}` +
        (up ? '' : ' (warm-up timeout: groups still starting)'),
    );
    await started;
    this.#openUnlessClosing();
    this.#healthWatch.start();
    // With a lease, Leadership says so after each takeover (a standby starts no instance).
    for (const [name, provider] of this.#ha.lease ? [] : this.providers) {
      const line = groupUpLine(name, provider.instances(), provider.desired());
      logger[line.level](line.fields, line.message);
    }
  }

  #createProvider(name: string): Provider {
    const group = this.config.groups[name]!;
    const logger = this.#logger.child({ group: name });
    // Workers take no traffic: they stay out of the balancer and stop on SIGTERM, finishing their jobs.
    const serves = group.role === 'service';
    if (serves) {
      this.balancer.setGroup(name, [], { healthPath: group.healthPath });
      // Its upstream is rendered also while it has no instance (min_instances: 0): nginx.conf
      // proxies to it, and NGINX refuses the whole config ("host not found in upstream") while no
      // block defines it, which kept every group's upstreams out of NGINX.
      this.nginx?.addGroup(name);
    }
    // With standbys routing to this group's instances, a stop also waits until they took it out.
    const grace = this.#ha.drainGrace(name);
    const provider = this.#ha.wrap(
      name,
      createProvider(group, {
        // The provider names the group in its own log lines.
        logger: this.#logger,
        // Read at each start: a reload may add an alert sink whose URL is secret.
        secretEnv: () => configSecretEnv(this.config),
        // A new local instance is ready once its health path answers within what the balancer's
        // health check waits: 1 s before, whatever balancer.health.timeout said.
        healthTimeout: this.config.balancer.health.timeout,
        drain: async (instance) => {
          await Promise.all([
            serves ? this.balancer.drain(name, instance.id) : undefined,
            // NGINX sends to the instance directly: it stops only after the reload that took it out
            // of NGINX's upstream, and the old workers that had it exited (bounded by drain_timeout,
            // as the balancer's own drain). Named by id too: a Kubernetes or AWS scale-in drains
            // while its provider still lists the instance ready, and NGINX kept it until it was gone.
            serves
              ? this.nginx?.synced(this.config.balancer.drainTimeout, {
                  address: instance.address,
                  group: name,
                  id: instance.id,
                })
              : undefined,
            grace > 0 ? delay(grace) : undefined,
          ]);
        },
        ...this.#providerOptions(name),
      }),
    );
    if (serves) {
      // Leading, the provider's instances; standing by, those the leader recorded (see HighAvailability.routable).
      this.#route.set(name, () => {
        const routed = this.#ha.routable(name, provider.instances());
        // Closed first on shutdown: the instances then drain through balancer.drain alone.
        if (!this.#balancerClosed) this.balancer.setGroup(name, routed, { healthPath: group.healthPath });
        this.nginx?.update(name, routed);
      });
    }
    provider.on('change', () => {
      const instances = provider.instances();
      this.#route.get(name)?.();
      this.metrics.readyInstances.set({ group: name }, instances.filter((i) => i.state === 'ready').length);
    });
    provider.on('crash', (instance, detail) => {
      this.metrics.instanceCrashes.inc({ group: name });
      logger.warn(
        { instance: instance.id, ...detail },
        `instance ${instance.id} failed${detail.reason ? ` (${detail.reason})` : ''}; replacing it`,
      );
      // The journal's time base, the decision clock (see journal.ts `time`).
      this.controller.journal.append(
        crashEntry(name, provider.desired(), instance.id, detail),
        monotonicNow(),
      );
    });
    provider.on('crashLoop', (detail) => {
      logger.error(
        detail,
        `group ${name} is crash-looping: ${detail.crashes} crashes in ${detail.windowMs} ms; replacement paused until the next scaling`,
      );
      this.controller.journal.append(crashLoopEntry(name, provider.desired(), detail), monotonicNow());
    });
    provider.on('error', (err) => {
      logger.error({ err }, 'provider error');
      // Only an instance left running fails the shutdown: a failed drain hook still stops it, and a
      // store write or an engine's poll failing meanwhile is not about stopping.
      if (err instanceof ProviderError && err.code === 'STOP_FAILED')
        this.#shutdownFailures?.push(new Error(`group ${name}: ${err.message}`, { cause: err.cause }));
    });
    // Every failed operation, thrown to a caller (a scale write) or background (a watch); alerted in watchForAlerts.
    provider.on('operation', (outcome) => {
      if (outcome.error) this.metrics.providerErrors.inc({ group: name });
    });
    return provider;
  }

  /** providerOptions are the HA hooks of a group's provider (instance registry, fence); none by default. */
  #providerOptions(name: string): Partial<CreateProviderOptions> {
    return this.#ha.providerOptions(name);
  }

  /**
   * reload re-reads the config file, validates all of it (and the token file and alert secrets),
   * then applies what can change while running: group bounds and scaling, limits, alerts, API
   * tokens, rate limits and metrics access. Other changes are listed in `needsRestart` and the
   * running values kept. An invalid file throws (ConfigError, AuthConfigError) and changes nothing.
   * Each group's journal records the reload.
   */
  reload(by = 'SIGHUP'): Promise<ReloadResult> {
    const run = this.#reloading.then(() => this.#reload(by));
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reload(by: string): Promise<ReloadResult> {
    const source = this.config.source;
    if (source === undefined) throw new StartupError('nothing to reload: started without a config file');
    if (this.#closing) throw new ReloadDuringShutdownError();
    try {
      const next = await loadConfig(source);
      const plan = planReload(this.config, next);
      const fileTokens = plan.config.api.tokenFile ? await loadTokenFile(plan.config.api.tokenFile) : [];
      // Only the token file: the environment's file is read once, at start.
      for (const warning of await tokenFileWarnings(plan.config.api.tokenFile, {}))
        this.#logger.warn({ component: 'api' }, warning);
      if (this.tokenGenerated === false && this.token === undefined && fileTokens.length === 0)
        throw new AuthConfigError('api.token_file: the reloaded config leaves the API without a token');
      // Checked after the file was read and validated, before the first change: a reload that began
      // just before close() otherwise applied to a controller already stopping, and a raised
      // min_instances called scaleTo(3) while the instances drained.
      if (this.#closing) throw new ReloadDuringShutdownError();
      // A certificate renewed in place (cert-manager, certbot) is re-read at the running paths below,
      // as NGINX re-reads its own on reload: before, the listeners served the old one until a
      // restart, past its expiry. Checked first, so a half-written pair changes nothing.
      const tlsFiles = tlsIssues(plan.config);
      if (tlsFiles.length > 0) {
        const issues = tlsFiles.map(async ({ path, message }) => {
          const line = await lineInFile(source, path);
          return { path: path.join('.'), ...(line !== undefined && { line }), message };
        });
        throw new ConfigError(await Promise.all(issues), { source });
      }
      if (plan.applied.includes('alerts')) {
        try {
          await reconfigureAlertManager(this.alerts, plan.config.alerts, this.#env);
        } catch (err) {
          // The sink that failed and its line, as a schema error names them: before, every such
          // refusal read `alerts.sinks: alerts: slack needs a URL in $…`, whichever sink it was.
          const at = err instanceof SinkConfigError ? ['alerts', 'sinks', err.index] : ['alerts', 'sinks'];
          const line = await lineInFile(source, at);
          throw new ConfigError(
            [{ path: at.join('.'), ...(line !== undefined && { line }), message: (err as Error).message }],
            { source, cause: err },
          );
        }
      }
      this.#api.setAuth({
        ...(this.token !== undefined && { token: this.token }),
        tokens: fileTokens,
        authFailuresPerMinute: plan.config.api.authFailuresPerMinute,
        scaleRequestsPerMinute: plan.config.api.scaleRequestsPerMinute,
        publicMetrics: plan.config.api.publicMetrics,
        maxStreamsPerToken: plan.config.api.maxStreamsPerToken,
        maxStreams: plan.config.api.maxStreams,
      });
      if (this.#api.reloadTls()) plan.applied.push('api.tls');
      if (this.balancer.reloadTls()) plan.applied.push('balancer.tls');
      this.config = plan.config;
      this.controller.reconfigure(plan.config, { by, changes: plan.applied });
      await this.#rereadMetrics(plan.config, plan.applied);
      this.#logger.info(
        { by, applied: plan.applied, needsRestart: plan.needsRestart },
        `config reloaded from ${source}: ${plan.applied.length === 0 ? 'nothing to apply' : `applied ${plan.applied.join(', ')}`}` +
          (plan.needsRestart.length === 0
            ? ''
            : `; needs a restart, kept as running: ${plan.needsRestart.join(', ')}`),
      );
      return { source, applied: plan.applied, needsRestart: plan.needsRestart };
    } catch (err) {
      this.#logger.error(
        { by, err },
        `config reload refused, the running config is unchanged: ${(err as Error).message}`,
      );
      throw err;
    }
  }

  /**
   * rereadMetrics rebuilds the readers of every group whose `scaling` a reload changed, so a metric
   * added, removed or retargeted is read from the next decision on; the old polled sources close and
   * the alerts they had fired resolve (their metric is no longer read).
   */
  async #rereadMetrics(config: Config, applied: readonly string[]): Promise<void> {
    for (const group of Object.values(config.groups)) {
      const previous = this.#readings.get(group.name);
      if (!previous || !applied.includes(`groups.${group.name}.scaling`)) continue;
      this.#readings.set(group.name, this.#readingsOf(group, previous));
      for (const polled of previous.sources) {
        this.alerts.resolve(
          alertKeys.metricSource(group.name, polled.label),
          `metric ${polled.label} of group ${group.name} replaced by a config reload`,
        );
      }
      await previous.close();
    }
  }

  /**
   * inheritAlerts resolves the alerts the previous leader (or this process before a restart) left
   * open and that no longer hold now that this controller leads with what runs adopted.
   */
  async #inheritAlerts(): Promise<void> {
    const state = this.#ha.state;
    if (!state) return;
    const providers = this.providers;
    try {
      await inheritOpenAlerts(this.alerts, state, {
        groups: new Set(providers.keys()),
        healthy: (group) => {
          const provider = providers.get(group);
          return provider !== undefined && groupHealthy(provider);
        },
        hasInstance: (group, id) =>
          providers
            .get(group)
            ?.instances()
            .some((i) => i.id === id) ?? false,
        refireWithin: refireWithin(this.config),
      });
    } catch (err) {
      this.#logger.error({ err }, 'could not read the alerts the previous leader left open');
    }
  }

  /**
   * close stops the loop and the API, drains and stops every instance, then the balancer. Safe to
   * call twice. Rejects with ShutdownError, once all of it ran, when part of it failed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close().then(() => {
      const failures = this.#shutdownFailures ?? [];
      if (failures.length > 0) throw new ShutdownError(failures);
    });
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#shutdownFailures = [];
    try {
      clearInterval(this.#cpuTimer);
      this.#healthWatch.close();
      this.controller.close();
      // With a lease: hand the instances over and release the lease first; closing then stops none.
      await this.#ha.stepDown();
      // The balancer stops accepting connections before any instance drains, as NGINX's graceful
      // shutdown closes its listeners first; requests in flight still finish. Closed after the
      // instances, it accepted new requests while every instance drained and answered each 503 (no
      // backend) for as long as the slowest request in flight took (25 of 25 in a 2.9 s drain): a
      // client or load balancer in front retries a refused connect elsewhere, not a 503.
      this.#balancerClosed = true;
      const balancerClosed = this.balancer.close();
      await Promise.all([...this.#readings.values()].map((r) => r.close()));
      await this.#api.close();
      await Promise.all([...this.providers.values()].map((p) => p.close()));
      await this.#ha.close();
      await balancerClosed;
      await this.nginx?.close();
      await this.alerts.close();
      if (this.tokenGenerated && this.token && this.apiAddress)
        await removeTokenFile(this.apiAddress.port, this.token);
    } catch (err) {
      this.#shutdownFailures.push(err as Error);
    }
  }
}

/**
 * refireWithin is how long this controller's own evaluation may take to fire again an inherited
 * alert that still holds (see judgeInherited): `unhealthy_threshold` health checks, each up to an
 * interval and its timeout, and one interval more; a metric source's read, up to its timeout after
 * the next poll, and one poll more.
 */
function refireWithin(config: Config): InheritFacts['refireWithin'] {
  const health = config.balancer.health;
  const poll = Math.min(config.controller.interval, 1000);
  return {
    unhealthy: health.unhealthyThreshold * (health.interval + health.timeout) + health.interval,
    metricSource: DEFAULT_READ_TIMEOUT_MS + 2 * poll,
  };
}

/**
 * settlesWithin resolves true once `work` resolves, false after `ms` if it has not (it keeps
 * running); a rejection before then rejects. 0 ms answers false at once.
 */
function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(false);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([work.then(() => true as const), deadline]).finally(() => clearTimeout(timer));
}
