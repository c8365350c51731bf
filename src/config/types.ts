/**
 * The resolved, validated configuration every other module consumes.
 * YAML keys are snake_case and durations are strings ("30s"); here everything is camelCase,
 * durations are milliseconds and paths are absolute.
 */

/** HostPort is a parsed `host:port` listen address (`[::1]:8080` for IPv6). */
export interface HostPort {
  host: string;
  port: number;
}

/** BalancerAlgorithm names the built-in backend pickers. */
export type BalancerAlgorithm = 'round-robin' | 'least-connections';

/** HealthCheckConfig is an active HTTP health check against each instance. */
export interface HealthCheckConfig {
  /** @defaultValue '/healthz' */
  path: string;
  /** @defaultValue 1000 (ms) */
  interval: number;
  /** @defaultValue 1000 (ms) */
  timeout: number;
  /** Consecutive failures that take an instance out of rotation. @defaultValue 2 */
  unhealthyThreshold: number;
  /** Consecutive successes that bring it back. @defaultValue 1 */
  healthyThreshold: number;
}

/** BalancerConfig configures the built-in HTTP load balancer. */
export interface BalancerConfig {
  /** @defaultValue 127.0.0.1:8080 */
  listen: HostPort;
  /** @defaultValue 'least-connections' */
  algorithm: BalancerAlgorithm;
  health: HealthCheckConfig;
  /** Whole-request timeout towards a backend. @defaultValue 60000 (ms) */
  requestTimeout: number;
  /** Longest wait for in-flight requests of a removed instance. @defaultValue 30000 (ms) */
  drainTimeout: number;
}

/** ApiConfig configures the control API. */
export interface ApiConfig {
  /** @defaultValue 127.0.0.1:9090 */
  listen: HostPort;
}

/** CpuMetricConfig scales on average CPU per instance, in percent of one core. */
export interface CpuMetricConfig {
  type: 'cpu';
  /** Target average CPU percent per instance (100 = one full core). */
  target: number;
}

/** MetricConfig is one scaling signal. More kinds arrive with the policy issue. */
export type MetricConfig = CpuMetricConfig;

/** ScalingConfig is the autoscaling policy of one group. */
export interface ScalingConfig {
  metrics: MetricConfig[];
  /** Relative deviation from target that causes no scaling (HPA's 0.1). @defaultValue 0.1 */
  tolerance: number;
  /** Scale-down stabilization window (HPA default 300 s). @defaultValue 300000 (ms) */
  scaleDownStabilization: number;
  /** Scale-up stabilization window (HPA default 0). @defaultValue 0 (ms) */
  scaleUpStabilization: number;
  /** Window over which CPU is averaged. @defaultValue 30000 (ms) */
  metricWindow: number;
}

/** LocalProviderConfig runs instances as child processes on this machine. */
export interface LocalProviderConfig {
  provider: 'local';
  /** Shell command started once per instance. */
  command: string;
  /** Working directory: the config file's folder unless set. */
  cwd: string;
  /** Environment variable that carries the instance's port. @defaultValue 'PORT' */
  portEnv: string;
  /** Extra environment for every instance. @defaultValue {} */
  env: Record<string, string>;
  /** Host the instances listen on and the balancer connects to. @defaultValue '127.0.0.1' */
  host: string;
  /** Longest wait for a new instance's health path to answer. @defaultValue 30000 (ms) */
  startTimeout: number;
  /** SIGTERM → SIGKILL grace period. @defaultValue 10000 (ms) */
  stopTimeout: number;
  /** Crashes within `crashLoopWindow` that mark the group as crash-looping. @defaultValue 5 */
  crashLoopLimit: number;
  /** @defaultValue 60000 (ms) */
  crashLoopWindow: number;
}

/** GroupConfig is one group of interchangeable instances. */
export interface GroupConfig {
  name: string;
  /** @defaultValue 1 */
  minInstances: number;
  /** Required when `scaling` is set. @defaultValue max(minInstances, 1) */
  maxInstances: number;
  /** Instances to start with. @defaultValue minInstances */
  initialInstances: number;
  /** Health path probed for readiness and by the balancer. @defaultValue balancer.health.path */
  healthPath: string;
  provider: LocalProviderConfig;
  /** Absent: the group is scaled only by hand. */
  scaling?: ScalingConfig;
}

/** ControllerConfig configures the control loop. */
export interface ControllerConfig {
  /** How often metrics → policy → provider runs. @defaultValue 15000 (ms) */
  interval: number;
  /** Decisions kept in memory for the events API. @defaultValue 1000 */
  journalSize: number;
}

/** Config is a whole, validated Scaleplane configuration. */
export interface Config {
  api: ApiConfig;
  balancer: BalancerConfig;
  controller: ControllerConfig;
  groups: Record<string, GroupConfig>;
  /** Absolute path of the file this came from, if any. */
  source?: string;
}
