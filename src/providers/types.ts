import type { EventEmitter } from 'node:events';
import type { GroupConfig, WrittenBehavior } from '../config/types.js';

/**
 * InstanceState is where an instance is in its life:
 * starting → ready → draining → stopping → stopped, or failed when it died or never became ready.
 */
export type InstanceState = 'starting' | 'ready' | 'draining' | 'stopping' | 'stopped' | 'failed';

/** Instance is one running copy of a group's service, as a provider sees it. */
export interface Instance {
  /** Stable id, unique within the provider (e.g. `web-3`). */
  readonly id: string;
  readonly group: string;
  /** `host:port` the balancer connects to. */
  readonly address: string;
  readonly state: InstanceState;
  /** OS process id (local provider only). */
  readonly pid?: number;
  /** Epoch ms. */
  readonly startedAt: number;
  /** Epoch ms when it became ready. */
  readonly readyAt?: number;
  /** Size it runs with, when the provider knows it (limits, instance type). */
  readonly size?: InstanceSize;
}

/** ResizeOptions are a caller's hooks into a resize. */
export interface ResizeOptions {
  /**
   * onSizeSaved is called once, by a provider that `savesSize`, with the write that makes the
   * resize's size outlive this controller (see Provider.savesSize), as soon as it is under way: the
   * control API answers once it landed. A resize that fails before that write never calls it.
   */
  onSizeSaved?: (write: Promise<void>) => void;
}

/**
 * InstanceSize is what a vertical resize asks of every instance. Each provider honours the fields
 * its engine has: local and Kubernetes `cpu` + `memory`, AWS `instanceType`.
 */
export interface InstanceSize {
  /** CPU in cores (0.5 = half a core): a CFS quota locally, `resources.limits.cpu` on Kubernetes. */
  readonly cpu?: number;
  /** Memory limit in bytes. */
  readonly memory?: number;
  /** Machine type, e.g. `t3.large` (AWS). */
  readonly instanceType?: string;
}

/**
 * PodUsage is one instance's CPU and memory as the platform measures them (Kubernetes: the
 * PodMetrics metrics-server serves), beside its requests, the HPA's base of utilization.
 */
export interface PodUsage {
  /** The instance's id. */
  readonly id: string;
  /** Cores in use (summed over its containers); absent when not reported. */
  readonly cpu?: number;
  /** Working set in bytes (summed over its containers); absent when not reported. */
  readonly memory?: number;
  /** Requests summed over its containers; absent when one of them has none. */
  readonly requests: { readonly cpu?: number | undefined; readonly memory?: number | undefined };
  /** Why a request is absent, as the HPA words it ("missing request for cpu in container …"). */
  readonly missingRequest?: { readonly cpu?: string; readonly memory?: string };
  /** When the measurement was taken (PodMetrics `timestamp`), ms since the epoch. */
  readonly sampledAt?: number;
  /** The span the measurement covers (PodMetrics `window`: metrics-server's resolution), ms. */
  readonly windowMs?: number;
  /** The pod when read: its phase, start (`status.startTime`) and Ready condition (since when). */
  readonly pod?: {
    readonly phase?: string;
    readonly startedAt?: number;
    readonly ready?: { readonly status: string; readonly since?: number };
  };
}

/** ReplaceResult says how a provider replaced an instance, for the decision journal. */
export interface ReplaceResult {
  /** Stable token: `surge` (local), `eviction` or `delete` (Kubernetes), `set-instance-health` (AWS). */
  readonly method: string;
  /** One human sentence on what was done. */
  readonly detail: string;
}

/** DrainHook is called before an instance is stopped; it resolves when no request is in flight. */
export type DrainHook = (instance: Instance) => Promise<void>;

/**
 * ProviderEvents are what a provider reports:
 * - `change`: the instance list or a state changed (listeners re-read `instances()`),
 * - `crash`: an instance exited on its own,
 * - `crashLoop`: crashes came faster than the limit; replacement is paused until the next scaleTo,
 * - `error`: a background failure (never thrown to the caller),
 * - `operation`: the outcome of each operation on the engine, foreground or background, failed or
 *   not (see OperationOutcome), so a failure that persists can be told from a blip, and its end seen.
 */
export interface ProviderEvents {
  change: [];
  /** `reason` (local provider) says why in words, e.g. an OOM kill and its last line of output. */
  crash: [
    instance: Instance,
    detail: { code: number | null; signal: NodeJS.Signals | null; reason?: string },
  ];
  crashLoop: [detail: { group: string; crashes: number; windowMs: number }];
  error: [err: Error];
  operation: [outcome: OperationOutcome];
}

/**
 * OperationOutcome is how one operation on the engine ended. `operation` is a stable name, the one
 * its error message uses: the API call on Kubernetes (`patch scale`, `list pods`, `pods watch`) and
 * AWS (`SetDesiredCapacity`), `spawn` for a local instance's process. `error` is set when it failed
 * (whether it was thrown to a caller or reported on `error`).
 */
export interface OperationOutcome {
  readonly operation: string;
  readonly error?: Error;
}

/**
 * Provider runs the instances of one group on some engine (local processes, Kubernetes, AWS).
 * Five things: list instances (`instances`), scale to N (`scaleTo`), resize (`resize`), watch (the
 * `change` event, see `watchInstances`) and `close`. Every provider passes the shared conformance
 * suite in `test/providers/conformance.ts`.
 */
/**
 * EngineScaling says why an autoscaler the engine runs (the HPA in `mode: hpa`) changed a group's
 * count: reason tokens, a message and the figures it went by, for the decision journal.
 */
export interface EngineScaling {
  reasons: string[];
  message: string;
  inputs: Record<string, unknown>;
}

export interface Provider extends EventEmitter<ProviderEvents> {
  readonly kind: string;
  /**
   * start connects to the engine and loads what already runs there (pods, EC2 instances, adopted
   * processes), so `instances()` and `desired()` describe it. Optional: local starts empty.
   */
  start?(): Promise<void>;
  /**
   * observe starts following what runs on the engine without writing anything to it — no scale, no
   * HPA, no group update, no health mark — so a standby can route to the instances while another
   * controller leads: `instances()` and `change` then describe them. A later `start()` continues
   * from it without a gap. Absent: the provider cannot watch read-only (local instances are read
   * from the state store instead).
   */
  observe?(): Promise<void>;
  /**
   * resize replaces every instance with one of `size`, rolling, never lowering the number in
   * service: each new instance is ready before an old one is drained and stopped. Instances
   * started later get `size` too. A limit `size` leaves out stays as it is (`cpu` alone keeps the
   * memory limit in force), as a strategic merge patch of a container's resources does. Absent: the
   * provider cannot resize.
   */
  resize?(size: InstanceSize, options?: ResizeOptions): Promise<void>;
  /**
   * resumedResize is a resize of an earlier controller that `start()` found unfinished on the engine
   * and finishes in the background (a Kubernetes StatefulSet's or Deployment's roll), if any: resolves
   * once it is finished, rejects with its failure (CLOSED or FENCED: left for the next controller;
   * RESIZE_SUPERSEDED: a later resize took it over). The group
   * journals and alerts its outcome as it does a resize's. Absent: none is ever resumed this way.
   */
  resumedResize?(): Promise<void> | undefined;
  /**
   * savesSize is true when `resize` makes its size outlive this controller with one write, which it
   * hands to `options.onSizeSaved`: local (with a state store) stores the size in force in the state
   * store, for a successor to resume the roll; Kubernetes PATCHes the workload's pod template and
   * AWS writes a launch template version and points the Auto Scaling group at it, after which the
   * engine rolls on its own. Until that write lands, a controller that dies loses the resize: a
   * successor only has its journal entry. @defaultValue false
   */
  readonly savesSize?: boolean;
  /**
   * sizeWrite names that write when it goes to the engine, not the state store, so an error can say
   * what was not stored: `the PATCH of Deployment shop/web's pod template`. Absent: the state store's.
   */
  readonly sizeWrite?: string;
  /**
   * resizes names the InstanceSize fields `resize` honours (local and Kubernetes `cpu` + `memory`,
   * AWS `instanceType`), so the API refuses a size the engine has no such knob for before anything
   * is journaled or replaced. Absent: not checked.
   */
  readonly resizes?: readonly (keyof InstanceSize)[];
  /**
   * resizeRefusal says why `resize(size)` cannot work here (local: no cgroups this process may
   * create, or a memory limit below what every serving instance holds now), so the API refuses it
   * before anything is journaled or replaced; undefined when it can.
   * Absent: not checked.
   */
  resizeRefusal?(size: InstanceSize): string | undefined;
  /**
   * replace swaps one ready instance for a fresh one, for an instance that keeps failing its health
   * checks. Local starts the new instance and waits until it is ready before the old one is drained
   * and stopped. Kubernetes and AWS hand the swap to the engine (evict the pod, mark the EC2 instance
   * Unhealthy): the old one may go before its successor is ready, so they refuse (CAPACITY) when no
   * other instance is ready, and (BUSY) while another instance of the group is going away.
   * Resolves, saying how it replaced, once the old one is gone and as many are ready as before;
   * rejects (ProviderError) NOT_FOUND for an instance that is not ready, BUSY while another
   * replacement runs (Kubernetes, AWS: or a resize; local rides a resize's roll instead: the
   * instance is the next one the roll replaces), or when the new one does not become ready. Absent: the provider
   * cannot replace.
   */
  replace?(id: string): Promise<ReplaceResult>;
  /**
   * returnToService puts back into rotation an instance `replace` drained and could not hand to the
   * engine (an eviction a PodDisruptionBudget refused, a SetInstanceHealth that failed), once it
   * passes its health checks again. Until then it stays drained (it fails its checks: requests sent
   * to it would fail) but listed `ready`, so the replacement is tried again. Resolves whether it
   * put one back: false for an instance it holds no such drain of (a scale-in's or a resize's is
   * never undone) or one no longer ready on the engine. Absent: `replace` never leaves one drained
   * (local starts the new instance first).
   */
  returnToService?(id: string): Promise<boolean>;
  /**
   * release stops managing the instances without stopping them, so another controller (the next
   * leader) can adopt them; `start` adopts them again. Absent: nothing to hand over (the engine
   * owns its instances, as on Kubernetes and AWS).
   */
  release?(): Promise<void>;
  /**
   * explainScaling says why the engine's own autoscaler took the count from `before` to `after`
   * (`mode: hpa`), or undefined while what it says is still being read. Absent: the engine runs no
   * autoscaler of ours.
   */
  explainScaling?(before: number, after: number): EngineScaling | undefined;
  /** size is the size new instances get, if one was set. */
  size?(): InstanceSize | undefined;
  /**
   * readPodUsage reads the instances' CPU and memory as the engine measures them, for a provider
   * whose instances are no local processes to sample (Kubernetes: metrics.k8s.io PodMetrics). An
   * instance without a measurement has an entry without `cpu`/`memory` (its requests still count).
   * Rejects with why it could not read them.
   */
  readPodUsage?(): Promise<PodUsage[]>;
  /** Every instance that is not yet stopped, oldest first. */
  instances(): readonly Instance[];
  /**
   * The count the provider is converging to. Counts starting and ready instances,
   * not draining or stopping ones.
   */
  desired(): number;
  /**
   * setBounds takes min/max_instances changed by a config reload to the engine, where it keeps
   * bounds of its own (an Auto Scaling group's MinSize/MaxSize), so that the controller's scales
   * inside the new bounds are not refused there. Only the leader writes; a standby keeps them for
   * its `start`. Absent: the engine keeps no bounds of ours.
   */
  setBounds?(min: number, max: number): Promise<void>;
  /**
   * setAutoscaler takes a `scaling` section changed by a config reload to an engine that runs the
   * scaling loop itself (`mode: hpa`: the HPA's cpu target and behavior), as `start` gives it those
   * it was built with. Only the leader writes; a standby keeps them for its `start`. Absent: the
   * policy is Scaleplane's own, read again from the config at each decision.
   */
  setAutoscaler?(spec: AutoscalerSpec): Promise<void>;
  /**
   * scaleTo sets the desired count and resolves when it is reached: new instances ready (or failed)
   * and removed ones drained and stopped. A later call supersedes an earlier one.
   */
  scaleTo(n: number): Promise<void>;
  /** close stops every instance (drained) and releases everything; safe to call twice. */
  close(): Promise<void>;
  /**
   * The engine's own autoscaler, when it scales the group (Kubernetes `mode: hpa`): its name and
   * metrics as last read (see `readAutoscaler`). Absent: Scaleplane scales the group, or no one.
   */
  autoscaler?(): EngineAutoscaler | undefined;
  /** readAutoscaler reads the engine's autoscaler again, for `autoscaler()`; never rejects (the error is kept). */
  readAutoscaler?(): Promise<void>;
}

/** EngineAutoscaler is the engine's own autoscaler as `status` shows it. */
export interface EngineAutoscaler {
  /** `HorizontalPodAutoscaler shop/web`. */
  name: string;
  /** Its metrics, current against target, as it last reported them. */
  metrics: { name: string; target: number; average: number | null; unit?: '%' }[];
  /** Why the last read failed, when it did (the metrics are then the read before, if any). */
  error?: string;
}

/**
 * watchInstances calls `listener` with the instance list now and on every change, until the
 * returned function is called: the "watch" of the provider interface.
 */
export function watchInstances(
  provider: Provider,
  listener: (instances: readonly Instance[]) => void,
): () => void {
  const onChange = () => listener(provider.instances());
  provider.on('change', onChange);
  onChange();
  return () => provider.off('change', onChange);
}

/** formatAddress renders an instance's `host:port`, bracketing an IPv6 host (as Go's net.JoinHostPort). */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * oldestFirst orders instances by start time, ties by id: the "oldest first" of
 * `Provider.instances()`, for providers that list what an engine reports in its own order.
 */
export function oldestFirst(a: Instance, b: Instance): number {
  return a.startedAt - b.startedAt || a.id.localeCompare(b.id);
}

/** AutoscalerSpec is what an engine that scales by itself is told of a group's `scaling` section. */
export interface AutoscalerSpec {
  /** The `cpu` metric's target (percent of requests), if the group scales on one. */
  cpuTarget?: number;
  /** `scaling.behavior` as written. */
  behavior?: WrittenBehavior;
}

/** autoscalerSpec is a group's `scaling` as an engine that scales by itself is told of it. */
export function autoscalerSpec(scaling: GroupConfig['scaling']): AutoscalerSpec {
  const cpuTarget = scaling?.metrics.find((m) => m.type === 'cpu')?.target;
  return {
    ...(cpuTarget !== undefined && { cpuTarget }),
    ...(scaling?.behaviorWritten && { behavior: scaling.behaviorWritten }),
  };
}
