import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Configuration, KubeConfig, V1StatefulSet } from '@kubernetes/client-node';
import type { KubernetesProviderConfig, WrittenBehavior } from '../../config/types.js';
import { callEngine, invalidInstanceCount, ProviderError } from '../errors.js';
import type { LocalProviderLogger } from '../local/provider.js';
import { validateSize } from '../local/provider.js';
import { planEngineReplace, replacePlanCode } from '../replace-plan.js';
import { ReturnToService } from '../return-to-service.js';
import type {
  AutoscalerSpec,
  DrainHook,
  EngineAutoscaler,
  EngineScaling,
  Instance,
  InstanceSize,
  PodUsage,
  Provider,
  ProviderEvents,
  ReplaceResult,
  ResizeOptions,
} from '../types.js';
import { oldestFirst } from '../types.js';
import { apiErrorText, apiStatus, retryAfterMs } from './api-error.js';
import { appliedReplicas, type WorkloadMeta } from './applied.js';
import { describeHpaBehavior, type HpaBehavior, hpaBehavior, sameHpaBehavior } from './hpa-behavior.js';
import { type HpaBounds, hpaBounds } from './hpa-bounds.js';
import { explainHpaScaling, type HpaLike, hpaMetricFigures } from './hpa-explain.js';
import {
  describeHpaMetrics,
  type HpaFieldWrite,
  type HpaMetricsWrite,
  hpaFieldToWrite,
  hpaMetricsToWrite,
  sameJson,
} from './hpa-metrics.js';
import { loadKubeConfig } from './kubeconfig.js';
import { dns1123LabelIssue, dns1123SubdomainIssue } from './names.js';
import { METRICS_SERVER_MISSING, type PodMetricLike, podUsages } from './pod-metrics.js';
import { labelSelector, type PodLike, podInstance, podState } from './pods.js';
import { formatCpu, formatMemory, quantityCpu, quantityMemory } from './quantity.js';
import { rewatchBackoff, type WatchStatus, watchFailure } from './rewatch.js';
import { versionProblem } from './version.js';

type K8s = typeof import('@kubernetes/client-node');
type WatchName = 'pods' | 'workload';

/**
 * The annotation a StatefulSet carries while a resize of ours rolls it: JSON `{"partition": P,
 * "replicas": R, "previous": {CONTAINER: {"limits": …, "requests": …}}, "written": {"cpu": …}}`, the
 * user's partition to restore, the replicas without the extra one (a scale of ours during the roll
 * writes its count there) and, until the partition goes to 0, the resources the resize replaced
 * (written back if the extra pod fails, while the template holds those it wrote), with `"canary": C`,
 * the partition, once such a scale moved R away from it. A controller that starts and finds it
 * finishes the roll (see `#finishRoll`).
 */
export const ROLL_ANNOTATION = 'scaleplane.io/resize-roll';

/** ContainerResources is a container's `resources.limits` and `.requests` (each absent if unset). */
interface ContainerResources {
  limits?: Record<string, string>;
  requests?: Record<string, string>;
}

/** RollState is what `ROLL_ANNOTATION` holds. */
interface RollState {
  partition: number;
  replicas: number;
  /**
   * The resources before the resize, by container: present while every existing pod is behind the
   * partition (the extra pod is the only one at the new size), dropped as the partition goes to 0.
   */
  previous?: Record<string, ContainerResources>;
  /**
   * The quantities the resize wrote into the limits and requests of `previous`'s container, dropped
   * with it: a revert writes `previous` back only while the template still holds them (see
   * `#revertRoll`). Absent from an annotation written before it was noted: reverted as before.
   */
  written?: Record<string, string>;
  /**
   * The partition every pod is behind while `previous` is noted, when it is not `replicas`: a scale
   * of ours during the roll moved the replicas, not the partition (pods at or above it may run the
   * new size), or, below it, both (see `movedTo`). Absent: `replicas` (see `canaryOf`).
   */
  canary?: number;
}

/** A write of a StatefulSet roll decided from the StatefulSet as read: its PATCH (none: nothing to write) and its outcome. */
interface RollWrite<T> {
  patch?: { metadata?: object; spec?: object };
  out: T;
}

/** A write of `spec.replicas` decided from the scale as read: the count to write (none: nothing to write) and its outcome. */
interface ScaleWrite<T> {
  replicas?: number;
  out: T;
}

/**
 * The annotation a Deployment carries while a resize of ours rolls it: JSON `{"container": C,
 * "previous": {"limits": …, "requests": …}, "written": {"cpu": …, "memory": …}, "rollingUpdate":
 * {"maxSurge": …, "maxUnavailable": …}}`: the container's resources last in force (fully rolled
 * out; written back if the rollout fails), those the resize wrote, and the user's `rollingUpdate`
 * (absent for a `Recreate` Deployment, whose strategy a resize leaves as it is), restored once the
 * roll ends. A controller that starts and finds it waits for the rollout and ends the roll (see
 * `#settleDeployment`).
 */
export const DEPLOYMENT_ROLL_ANNOTATION = 'scaleplane.io/resize-rollout';

/** DeploymentRoll is what `DEPLOYMENT_ROLL_ANNOTATION` holds. */
interface DeploymentRoll {
  container: string;
  previous: ContainerResources;
  written: Record<string, string>;
  rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string };
}

/**
 * The annotation a ReplicaSet ranks its pods by on a scale-in (lower goes first; Kubernetes 1.22+,
 * feature PodDeletionCost, on by default): set on the pods a scale-in drained, so those are removed.
 */
const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
/** The lowest value `POD_DELETION_COST` takes (an int32). */
const LOWEST_DELETION_COST = '-2147483648';

/** Times one API request is sent again after a 429 (or 5xx) with a Retry-After (client-go: 10). */
const RETRY_AFTER_RETRIES = 5;
/** Longest wait a Retry-After gets before a request is sent again (ms). */
const MAX_RETRY_AFTER_MS = 10_000;

/**
 * How long past its deletionTimestamp (the end of its grace period, when the kubelet has killed it)
 * a terminating pod is taken as stranded: its node lost or a finalizer holding it (see `#settle`).
 */
const STRANDED_AFTER_MS = 30_000;

/** epochOf is a timestamp as epoch ms (0 when absent or unreadable). */
function epochOf(value: Date | string | undefined): number {
  const ms = value === undefined ? Number.NaN : new Date(value).getTime();
  return Number.isFinite(ms) ? ms : 0;
}

/** Reads and writes of the HPA before a 409 Conflict on every one of them fails `start`. */
const HPA_WRITE_ATTEMPTS = 5;
/** Writes of `spec.replicas` at the resourceVersion read before a 409 Conflict on every one of them fails a scale. */
const SCALE_WRITE_ATTEMPTS = 5;
/** Writes of a StatefulSet roll's PATCH at the resourceVersion read before a 409 Conflict on every one of them fails it. */
const ROLL_WRITE_ATTEMPTS = 5;
/** The HPA as read after the replicas became `for` (`mode: hpa`), or why it could not be. */
interface HpaSeen {
  for: number;
  hpa?: HpaLike;
  error?: string;
  /** Reads still going: its status did not name `for` yet. */
  reading: boolean;
}

/** Reads of the HPA, after the replicas changed in `mode: hpa`, waiting for its status to name the new count. */
const HPA_STATUS_READS = 10;

/** KubernetesProviderOptions configures a KubernetesProvider. */
export interface KubernetesProviderOptions {
  group: string;
  config: KubernetesProviderConfig;
  minInstances: number;
  maxInstances: number;
  /** CPU utilization target (percent of requests) for `mode: hpa`. @defaultValue 80 */
  cpuTarget?: number;
  /** `scaling.behavior` as written, for the HPA's `spec.behavior` in `mode: hpa`. @defaultValue none */
  behavior?: WrittenBehavior;
  logger?: LocalProviderLogger;
  /** Waits until a pod about to be replaced has no request in flight. @defaultValue resolves at once */
  drain?: DrainHook;
  /** A loaded KubeConfig (tests). @defaultValue config.kubeconfig, then KUBECONFIG / ~/.kube/config / in-cluster */
  client?: { kubeConfig: KubeConfig };
  /**
   * Pause before re-listing after a watch ends; doubled after each failed attempt in a row, at most
   * 30 s. @defaultValue 1000 (ms)
   */
  rewatchDelay?: number;
  /**
   * How long one watch lasts: asked of the API server as `timeoutSeconds` (client-go's reflector
   * asks 5 to 10 minutes), after which it ends and is opened again. One still open `requestTimeout`
   * past it is taken as stalled (its connection went half-open), aborted and opened again.
   * @defaultValue 300000 (ms)
   */
  watchTimeout?: number;
  /** How often a resize's rollout status is read. @defaultValue 1000 (ms) */
  rolloutPoll?: number;
  /** Longest wait for scaleTo or a rollout. @defaultValue 600000 (ms) */
  timeout?: number;
  /**
   * Longest wait for one API request's answer (watches excepted): an API server that stops
   * answering fails the call instead of holding the scale, the drain or the tick behind it for good.
   * @defaultValue 30000 (ms)
   */
  requestTimeout?: number;
  /**
   * Least time between two reads of the workload's `spec.replicas` (the scale subresource), made
   * after pod events to notice a `kubectl scale` or an HPA's change. @defaultValue 500 (ms)
   */
  replicasReadInterval?: number;
  /**
   * Rejects (FENCED) when this controller no longer leads; asked before a replacement's eviction
   * (after the pod's drain, which outlasts replace's own check) and before each write of a
   * StatefulSet's roll (see `#finishRoll`), which runs long after the fenced call that began it, or
   * with no call at all when `start()` resumes it. A deposed controller stops the roll there and
   * leaves the annotation for the next leader. @defaultValue every write allowed
   */
  fence?: (what: string) => Promise<void>;
}

const NOOP: LocalProviderLogger = { info() {}, warn() {}, error() {} };

/**
 * KubernetesProvider runs a group as a Deployment or StatefulSet: `scaleTo` writes the `scale`
 * subresource, instances are the workload's pods (Ready ones serve, at `podIP:port`), kept current
 * by a pods watch resumed from the list's resourceVersion, `desired()` follows a scale by another
 * client through a watch of the workload itself (both watches re-opened with backoff), and `resize` patches the container's
 * `resources` so Kubernetes rolls the pods (a RollingUpdate Deployment with maxUnavailable 0,
 * maxSurge 1 until the roll ends; a Recreate one as it is), and
 * `replace` evicts one pod (policy/v1 Eviction, honouring PodDisruptionBudgets) for the workload's
 * controller to recreate. With `mode: hpa` it writes an autoscaling/v2 HorizontalPodAutoscaler and
 * lets Kubernetes own the loop.
 */
export class KubernetesProvider extends EventEmitter<ProviderEvents> implements Provider {
  /** Always `'kubernetes'`. */
  readonly kind = 'kubernetes';
  /** Container resources: CPU and memory, no instance types. */
  readonly resizes = ['cpu', 'memory'] as const;
  /**
   * A resize outlives this controller once the API server stored the pod template's new resources:
   * Kubernetes rolls a Deployment's pods from there on its own; a StatefulSet's roll, held behind a
   * partition, is finished by whichever controller starts next (see `ROLL_ANNOTATION`). The control
   * API answers after that PATCH.
   */
  readonly savesSize = true;
  /** True in `mode: hpa`: Kubernetes runs the scaling loop, Scaleplane's policy stays out. */
  readonly autoscaled: boolean;
  readonly #options: KubernetesProviderOptions;
  readonly #config: KubernetesProviderConfig;
  readonly #logger: LocalProviderLogger;
  #k8s: K8s | undefined;
  #kc: KubeConfig | undefined;
  #selector = '';
  #pods = new Map<string, PodLike>();
  /** The resourceVersion of the pods list, or of the last pods event or bookmark: where a watch resumes. */
  #podsRv: string | undefined;
  #desired = 0;
  #size: InstanceSize | undefined;
  /** The open watches: the pods, and the workload itself. */
  #watches = new Map<WatchName, AbortController>();
  /** Failed attempts in a row to (re)open each watch: the backoff before the next one. */
  #watchFailures: Record<WatchName, number> = { pods: 0, workload: 0 };
  #rewatchTimers = new Set<NodeJS.Timeout>();
  /** Each open watch's deadline, past which it is taken as stalled. */
  #watchdogs = new Set<NodeJS.Timeout>();
  #closed = false;
  #observing: Promise<void> | undefined;
  #started: Promise<void> | undefined;
  /** scaleTo calls waiting for the desired count; `resolve` also clears the call's deadline. */
  #waiters: { resolve: () => void }[] = [];
  #checks = new Set<() => void>();
  #replacing = false;
  /** Pods drained for an eviction that failed, held out of rotation (see `returnToService`). */
  readonly #drained = new ReturnToService();
  /** Deployment resizes begun by this provider: a later one supersedes those before it. */
  #resizeSeq = 0;
  /**
   * Held while a Deployment resize reads the workload and writes its PATCH, and while a roll's end
   * writes the user's strategy back: an end never clears the annotation a later resize just wrote.
   */
  #deploymentLock: Promise<void> = Promise.resolve();
  /** The size of the Deployment's template last fully rolled out, as far as this provider knows. */
  #sizeInForce: InstanceSize | undefined;
  /** The Deployment's `DEPLOYMENT_ROLL_ANNOTATION` and generation as `observe` read them. */
  #observedRoll: { text: string | undefined; generation: number } | undefined;
  /**
   * Pods added by hand for the length of a StatefulSet resize (a StatefulSet has no maxSurge): 1
   * once its write landed, 0 again once its give-back did (see `#rollScaleWrite`).
   */
  #surge = 0;
  /** The writes of `spec.replicas`, scaleTo's and a StatefulSet roll's, one after the other (see `#scaleOver`). */
  #scaleWrites: Promise<void> = Promise.resolve();
  /** The roll's write of `spec.replicas` queued or running in `#scaleWrites`, as a scale waiting for it names it. */
  #rollScaling: string | undefined;
  /** The StatefulSet rolls this provider is running (see `#finishRoll`): a scale of ours moves their replicas. */
  readonly #rolling = new Set<{ roll: RollState }>();
  /** A StatefulSet roll found half-done at start (see `ROLL_ANNOTATION`), being finished. */
  #resuming: Promise<void> | undefined;
  /** The same roll's outcome, as `resumedResize()` hands it out (rejects with its failure). */
  #resumed: Promise<void> | undefined;
  /**
   * The workload's `spec.replicas` as its watch last delivered it, a new object per event: a
   * StatefulSet roll's wait for its extra pod tells the events since the extra replica landed by
   * identity (see `#runRoll`).
   */
  #watchedReplicas: { replicas: number } | undefined;
  /** Writes of ours to `spec.replicas` in progress (a scaleTo's patch, a StatefulSet resize's extra replica). */
  #writes = 0;
  /** Bumped as each of those writes begins and ends: a read sent before the last bump proves nothing. */
  #writeEpoch = 0;
  /** The next read of the replicas, pending. */
  #replicasTimer: NodeJS.Timeout | undefined;
  #replicasReading = false;
  /** Pods changed while a read of the replicas was out: read once more after it. */
  #replicasAgain = false;
  /** scaleTo calls begun: a call whose number is not the last one's was superseded. */
  #scaleSeq = 0;
  /** Pods drained for a scale-in and not yet removed or returned (see `#returnSurvivors`). */
  readonly #scaleInDrained = new Set<string>();
  /** The next look at a scale that waits only on pods in their grace period (see `#settle`). */
  #strandTimer: NodeJS.Timeout | undefined;
  /** Stranded pods already warned about. */
  readonly #strandedNamed = new Set<string>();
  /** When `#nameLateHpa` last listed the HPAs (performance.now), and those it named. */
  #hpaCheckedAt = Number.NEGATIVE_INFINITY;
  readonly #hpasNamed = new Set<string>();
  /**
   * `mode: hpa`: the HPA as read after the replicas last changed (`for`), to say why it scaled
   * (`explainScaling`); `reading` while reads wait for its status to name that count.
   */
  #hpaSeen: HpaSeen | undefined;
  /** `mode: hpa`: the HPA as last read, by `readAutoscaler` or `#readHpaFor`, for `autoscaler()`. */
  #hpaLast: { hpa?: HpaLike; error?: string } = {};
  /** min/max_instances as configured now (a config reload changes them, see `setBounds`). */
  #bounds: HpaBounds;
  /** `scaling`'s cpu target and behavior as configured now (a config reload changes them, see `setAutoscaler`). */
  #autoscaler: AutoscalerSpec;
  /**
   * `mode: hpa`: the spec fields this process last wrote into the HPA (`#hpaFields`, as JSON).
   * Compared with what it wants, not with a read: a field an operator edited stays until the
   * config's change.
   */
  #hpaWritten: string | undefined;
  /**
   * The metrics and behavior another client set that were last warned about as left as set: a
   * write that keeps the same again says nothing more (see `#alignHpaBounds`).
   */
  #hpaKeptWarned: { metrics?: unknown[]; behavior?: { value: HpaBehavior | undefined } } = {};
  /** The latest write of the HPA's bounds (see `#alignHpaBounds`), settled: they run one at a time. */
  #aligning: Promise<void> = Promise.resolve();

  constructor(options: KubernetesProviderOptions) {
    super();
    if (!options.config.name)
      throw new ProviderError('INVALID_ARGUMENT', `group ${options.group}: kubernetes name is empty`);
    const bad =
      dns1123LabelIssue(options.config.namespace) === undefined
        ? ['name', dns1123SubdomainIssue(options.config.name)]
        : ['namespace', dns1123LabelIssue(options.config.namespace)];
    if (bad[1] !== undefined)
      throw new ProviderError('INVALID_ARGUMENT', `group ${options.group}: kubernetes ${bad[0]}: ${bad[1]}`);
    this.#options = options;
    this.#config = options.config;
    this.#logger = options.logger ?? NOOP;
    this.autoscaled = options.config.mode === 'hpa';
    this.#bounds = { min: options.minInstances, max: options.maxInstances };
    this.#autoscaler = {
      ...(options.cpuTarget !== undefined && { cpuTarget: options.cpuTarget }),
      ...(options.behavior && { behavior: options.behavior }),
    };
  }

  /**
   * observe loads the client, reads the workload and lists + watches its pods, and writes nothing:
   * what a standby does, so `instances()` and `change` describe the pods while another controller
   * leads. A later `start()` keeps this very watch (no gap) and only adds the writes. A failed
   * observe can be called again.
   */
  observe(): Promise<void> {
    this.#observing ??= this.#observe().catch((err: unknown) => {
      this.#observing = undefined;
      throw err;
    });
    return this.#observing;
  }

  /**
   * start observes (see `observe`) and writes the HPA in hpa mode. After an earlier observe (a
   * standby taking over) it reads the workload's replicas again: they may have changed since.
   */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const observed = this.#observing !== undefined;
    await this.observe();
    let workload:
      | { spec?: { replicas?: number }; metadata?: { annotations?: Record<string, string> } }
      | undefined;
    if (observed || this.#config.kind === 'StatefulSet') {
      workload = await this.#call('read workload', () => this.#readWorkload());
      this.#desired = workload.spec?.replicas ?? 0;
    }
    await this.#refuseOtherHpa();
    if (this.autoscaled) await this.#call('write HPA', () => this.#writeHpa());
    if (this.#config.kind === 'Deployment') {
      const found = workload
        ? {
            text: workload.metadata?.annotations?.[DEPLOYMENT_ROLL_ANNOTATION],
            generation: (workload.metadata as { generation?: number } | undefined)?.generation ?? 0,
          }
        : this.#observedRoll;
      const roll = deploymentRoll(found?.text);
      if (roll && found) {
        // A resize of an earlier controller ended before its roll did: the Deployment controller
        // rolls on its own; the user's strategy comes back (or the resources) once it ends here.
        this.#logger.warn(
          { group: this.#options.group, roll },
          `${this.#ref()}: a resize's rollout was left unfinished (annotation ${DEPLOYMENT_ROLL_ANNOTATION}); waiting for it to end it`,
        );
        const deadline = performance.now() + (this.#options.timeout ?? 600_000);
        // A resize of this provider's takes it over (RESIZE_SUPERSEDED), as it would its own.
        const seq = this.#resizeSeq;
        this.#resume(
          this.#settleDeployment(
            roll,
            found.generation,
            deadline,
            () => this.#resizeSeq === seq,
            () => {
              if (this.#resizeSeq === seq) return false;
              throw new ProviderError(
                'RESIZE_SUPERSEDED',
                `resize of ${this.#ref()} superseded by a later one`,
              );
            },
          ),
        );
      }
      return;
    }
    let roll = workload && rollState(workload.metadata?.annotations?.[ROLL_ANNOTATION]);
    // Neither the replicas noted nor those plus our extra one: another client (kubectl scale, an
    // HPA) set them since. Theirs are the count wanted; the roll goes on from them (see #finishRoll).
    const replicas = workload?.spec?.replicas ?? 0;
    const rebased = roll !== undefined && replicas !== roll.replicas && replicas !== roll.replicas + 1;
    if (roll && rebased) roll = rebasedTo(roll, replicas);
    if (roll) {
      // A resize of an earlier controller stopped mid-roll: the template holds its size, the
      // partition holds pods back. Finished here, behind start (a roll takes as long as its pods).
      this.#desired = roll.replicas;
      this.#logger.warn(
        { group: this.#options.group, roll },
        `${this.#ref()}: a resize's roll was left half-done (annotation ${ROLL_ANNOTATION}); finishing it`,
      );
      const deadline = performance.now() + (this.#options.timeout ?? 600_000);
      this.#resume(this.#finishRoll(roll, deadline, undefined, rebased));
    }
  }

  /** resume hands out a roll found unfinished at start (see `resumedResize`) and logs its end. */
  #resume(roll: Promise<void>): void {
    const annotation = this.#config.kind === 'Deployment' ? DEPLOYMENT_ROLL_ANNOTATION : ROLL_ANNOTATION;
    this.#resumed = roll;
    this.#resuming = roll.then(
      () => {
        this.#logger.info({ group: this.#options.group }, `${this.#ref()}: the resize's roll is finished`);
        this.emit('change');
      },
      (err: unknown) => {
        const code = (err as ProviderError).code;
        if (code === 'RESIZE_SUPERSEDED')
          this.#logger.info(
            { group: this.#options.group, code },
            `${this.#ref()}: ${(err as Error).message}`,
          );
        else if (!this.#closed && !stopped(err)) this.#report(err as Error);
        else
          this.#logger.info(
            { group: this.#options.group, code },
            `${this.#ref()}: the resize's roll left as it stands (annotation ${annotation}) for the next controller`,
          );
      },
    );
  }

  /**
   * resumedResize is the roll of an earlier controller's resize that `start()` found half-done and
   * is finishing (see `ROLL_ANNOTATION`, `DEPLOYMENT_ROLL_ANNOTATION`), if any: it resolves once the
   * roll is finished and rejects with its failure (CLOSED or FENCED: left as it stands for the next
   * controller; RESIZE_SUPERSEDED: a Deployment resize of this provider's took it over).
   */
  resumedResize(): Promise<void> | undefined {
    return this.#resumed;
  }

  async #observe(): Promise<void> {
    let k8s: K8s;
    try {
      k8s = await import('@kubernetes/client-node');
    } catch (err) {
      throw new ProviderError(
        'UNSUPPORTED',
        `cannot load @kubernetes/client-node on Node ${process.version}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.#k8s = k8s;
    this.#kc =
      this.#options.client?.kubeConfig ??
      loadKubeConfig(k8s, this.#options.group, {
        ...(this.#config.kubeconfig && { kubeconfig: this.#config.kubeconfig }),
        ...(this.#config.context && { context: this.#config.context }),
      });
    await this.#refuseOldServer();
    const workload = await this.#call('read workload', () => this.#readWorkload());
    // The whole selector, as the workload's controller selects its pods: matchExpressions too.
    let selector: string;
    try {
      selector = labelSelector(workload.spec?.selector ?? {});
    } catch (err) {
      throw new ProviderError('API_ERROR', `${this.#ref()}: ${(err as Error).message}`);
    }
    if (selector === '')
      throw new ProviderError(
        'API_ERROR',
        `${this.#ref()}: spec.selector is empty (no matchLabels, no matchExpressions)`,
      );
    this.#selector = selector;
    this.#desired = workload.spec?.replicas ?? 0;
    this.#observedRoll = {
      text: workload.metadata?.annotations?.[DEPLOYMENT_ROLL_ANNOTATION],
      generation: workload.metadata?.generation ?? 0,
    };
    const applied = appliedReplicas(workload as WorkloadMeta);
    if (applied)
      this.#logger.warn(
        { group: this.#options.group, reason: 'ReplicasInManifest' },
        `${this.#ref()}: ${applied}: each apply sets the replicas back over ${this.autoscaled ? "the HPA's" : "Scaleplane's"} count; remove replicas from the manifest (as for an HPA)`,
      );
    await this.#listAndWatch();
    await this.#watchWorkload();
  }

  /**
   * refuseOldServer fails the start (UNSUPPORTED) on an API server too old for the group's mode,
   * naming its version and what it lacks (see version.ts). Before, a 1.21 cluster started, then a
   * replacement failed with a bare 404 (no policy/v1 Eviction), a scale-in removed pods it had not
   * drained (no pod-deletion-cost), and mode: hpa failed with 404 writing its HPA (no
   * autoscaling/v2 before 1.23). `GET /version` is open to every caller; when it cannot be read the
   * start goes on, and the calls that fail say why themselves.
   */
  async #refuseOldServer(): Promise<void> {
    const info = await this.#api(this.#k8s!.VersionApi)
      .getCode()
      .catch(() => undefined);
    const problem = info && versionProblem(info, this.#config.mode);
    if (problem !== undefined) throw new ProviderError('UNSUPPORTED', `${this.#ref()}: ${problem}`);
  }

  /** instances lists the workload's pods that have an IP, oldest first. */
  instances(): readonly Instance[] {
    const list: Instance[] = [];
    for (const pod of this.#pods.values()) {
      const instance = podInstance(pod, this.#options.group, this.#config.port, this.#config.container);
      if (!instance || instance.state === 'stopped') continue;
      const state = this.#drained.state(instance.id, instance.state);
      list.push(state === instance.state ? instance : Object.freeze({ ...instance, state }));
    }
    return list.sort(oldestFirst);
  }

  /**
   * desired is the replicas last written, or read from the workload: at start, at a standby's
   * takeover, and after workload or pod events when another client (`kubectl scale`, the HPA in `mode: hpa`, the
   * leader seen from a standby) set them (see `#followReplicas`).
   */
  desired(): number {
    return this.#desired;
  }

  /** size is the size of the last resize, if any. */
  size(): InstanceSize | undefined {
    return this.#size;
  }

  /**
   * scaleTo writes `spec.replicas` through the scale subresource (merge patch at the resourceVersion
   * read; another client's count met there is not written over: BUSY, see `#scaleOver`), on a scale-in
   * after draining the pods it removes (see `#drainForScaleIn`), and resolves once
   * exactly `n` pods are Ready and none is starting or terminating (a pod stranded terminating past
   * its grace period aside, see `#settle`), or a later scaleTo supersedes it
   * and that target is reached. After `timeout` it fails with API_ERROR naming the workload, the
   * target and the pods' states (e.g. pods that never pass their readiness probe).
   */
  async scaleTo(n: number): Promise<void> {
    const invalid = invalidInstanceCount(n);
    if (invalid) throw invalid;
    if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
    await this.start();
    const seq = ++this.#scaleSeq;
    const latest = () => seq === this.#scaleSeq;
    let foreign: number | undefined;
    // `mode: hpa`, min/max_instances changed by a reload since the HPA's bounds were written: with
    // the old ones the HPA would take the count written here straight back (see `setBounds`).
    await this.#alignHpaBounds(n);
    try {
      await this.#writing(async () => {
        const drained = n < this.#desired && (await this.#drainForScaleIn(n)).length > 0;
        // A later scaleTo began during the drains: its count is the one wanted now, and this one
        // writes nothing. Before, whichever drain ended last wrote its count over the other's.
        if (!latest()) return;
        try {
          // The drains (drain_timeout each) outlast the fence check made before scaleTo.
          if (drained) await this.#options.fence?.('patch scale (scale-in)');
          const met = await this.#call('patch scale', () => this.#scaleOver(n));
          if (met !== undefined) {
            foreign = met.replicas;
            throw new ProviderError(
              'BUSY',
              `${this.#ref()}: replicas is ${met.replicas}, set by another client since the scale to ${n} was decided (it was ${met.was}); not written over it: the next decision starts from ${met.replicas}`,
            );
          }
          await this.#rollFollowsScale(n);
        } catch (err) {
          if (latest()) this.#returnSurvivors();
          throw err;
        }
      });
    } catch (err) {
      // Followed once our write is done: warned as any change by another client (naming an HPA
      // created after the start, if one made it), and desired() takes it.
      if (foreign !== undefined) this.#followReplicas(foreign, this.#writeEpoch);
      throw err;
    }
    this.emit('change');
    try {
      await this.#awaitScale();
    } finally {
      // A pod drained that Kubernetes kept (a rollout's ReplicaSets are scaled in proportion, a
      // later scale-out took the count back up) serves again; while a later scaleTo runs, it decides.
      if (latest()) this.#returnSurvivors();
      // The count is inside min/max_instances now (or as close as it got): the HPA's bounds widened
      // for the way there close in. A failure leaves them wide, and the scale made.
      await this.#alignHpaBounds().catch((err: unknown) => this.#report(err as Error));
    }
  }

  /**
   * drainForScaleIn drains the pods a scale-in to `n` removes before `spec.replicas` drops, as the
   * local and AWS providers stop no instance before its drain: Kubernetes sends a pod SIGTERM as
   * it deletes it, so a request the balancer still had in flight to it failed (an app that exits
   * on SIGTERM) or a new one met it. Pods not Ready go first (the workload's controller removes
   * those first and they serve nothing); then, for a StatefulSet, the highest ordinals (the ones it
   * removes); for a Deployment, the newest Ready pods of the lowest `pod-deletion-cost`, each given
   * the lowest cost there is first, so that its ReplicaSet removes exactly those (its ranking puts
   * the cost before anything but readiness). A pod that cannot be annotated (RBAC without `patch`
   * on `pods`) is not drained: the scale-in goes on as before, with a warning naming the grant.
   * Returns the pods drained.
   */
  async #drainForScaleIn(n: number): Promise<Instance[]> {
    if (!this.#options.drain) return [];
    const live = [...this.#pods.values()].filter(
      (p) =>
        !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
    );
    const ready = this.instances().filter((i) => i.state === 'ready');
    let victims: Instance[];
    if (this.#config.kind === 'StatefulSet') {
      const keep = n + this.#surge;
      const ordinal = (id: string) => Number(id.slice(this.#config.name.length + 1));
      victims = ready.filter((i) => i.id.startsWith(`${this.#config.name}-`) && ordinal(i.id) >= keep);
    } else {
      const notReady = live.length - live.filter((p) => ready.some((i) => i.id === p.metadata?.name)).length;
      const count = Math.min(ready.length, this.#desired - n - notReady);
      if (count <= 0) return [];
      const cost = (id: string) =>
        Number(this.#pods.get(id)?.metadata?.annotations?.[POD_DELETION_COST] ?? 0) || 0;
      victims = [...ready].sort((a, b) => cost(a.id) - cost(b.id) || oldestFirst(b, a)).slice(0, count);
      try {
        await Promise.all(victims.map((v) => this.#annotateForDeletion(v.id)));
      } catch (err) {
        this.#logger.warn(
          { group: this.#options.group, err, reason: 'ScaleInNotDrained' },
          `${this.#ref()}: cannot mark the pods a scale-in to ${n} removes (${this.#errorText((err as ProviderError).cause ?? err)}); they are not drained first: grant patch on pods so that they are`,
        );
        return [];
      }
    }
    if (victims.length === 0) return [];
    for (const v of victims) this.#scaleInDrained.add(v.id);
    this.#logger.info(
      { group: this.#options.group, instances: victims.map((v) => v.id) },
      `${this.#ref()}: draining ${victims.map((v) => v.id).join(', ')} before scaling in to ${n}`,
    );
    await Promise.all(victims.map((v) => this.#options.drain!(v).catch(() => {})));
    return victims;
  }

  /** annotateForDeletion gives pod `name` the lowest `pod-deletion-cost`: its ReplicaSet removes it first. */
  async #annotateForDeletion(name: string): Promise<void> {
    const core = this.#api(this.#k8s!.CoreV1Api);
    const options = this.#k8s!.setHeaderOptions('Content-Type', this.#k8s!.PatchStrategy.MergePatch);
    await this.#call(`patch pod ${name}`, () =>
      core.patchNamespacedPod(
        {
          name,
          namespace: this.#config.namespace,
          body: { metadata: { annotations: { [POD_DELETION_COST]: LOWEST_DELETION_COST } } },
        },
        options,
      ),
    );
  }

  /**
   * returnSurvivors puts pods drained for a scale-in (by any scaleTo, see `#scaleInDrained`) that are
   * still there and not terminating back into rotation.
   */
  #returnSurvivors(): void {
    for (const id of this.#scaleInDrained) {
      const pod = this.#pods.get(id);
      if (pod && !pod.metadata?.deletionTimestamp) this.#drained.returnNow(id, () => this.emit('change'));
    }
    this.#scaleInDrained.clear();
  }

  /** awaitScale resolves once the pods match the desired count (see `scaleTo`), API_ERROR after `timeout`. */
  async #awaitScale(): Promise<void> {
    // Closed while the write was on its way: it ends as close() ends the waits already running (the
    // count is written; Kubernetes carries it out). Before, it began a wait no close would end, and
    // hung until its timeout.
    if (this.#closed) return;
    const timeout = this.#options.timeout ?? 600_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(async () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        const failure = await this.#replicaFailure();
        reject(
          new ProviderError(
            'API_ERROR',
            `${this.#ref()}: scale to ${this.#desired} not done within ${timeout / 1000} s (${this.#progress()}${failure})`,
          ),
        );
      }, timeout);
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
      this.#settle();
    });
  }

  /**
   * progress describes the pods against the desired count, for a wait that ran out: Ready, not
   * Ready, terminating, and those the workload's controller has not created (a ResourceQuota, an
   * admission webhook refusing them), which before went unmentioned ("2 of 4 pods Ready, 0 not Ready").
   */
  #progress(): string {
    const instances = this.instances();
    const count = (state: string) => instances.filter((i) => i.state === state).length;
    const waiting = instances.length - count('ready') - count('stopping');
    const livePods = [...this.#pods.values()].filter(
      (p) =>
        !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
    );
    const missing = this.#desired - livePods.length;
    // Pods without an IP are no instance yet: most often no node fits them (Unschedulable, until
    // cluster-autoscaler adds one). Before, they were counted nowhere: "1 of 3 pods Ready, 0 not Ready".
    const pending = livePods.filter((p) => !p.status?.podIP);
    const unscheduled = pending
      .flatMap((p) => p.status?.conditions ?? [])
      .find((c) => c.type === 'PodScheduled' && c.status === 'False');
    const why = unscheduled
      ? `: PodScheduled False ${unscheduled.reason ?? ''}: ${unscheduled.message ?? ''}`
      : '';
    return `${count('ready')} of ${this.#desired} pods Ready, ${waiting} not Ready, ${count('stopping')} terminating${pending.length > 0 ? `, ${pending.length} Pending without an IP${why}` : ''}${missing > 0 ? `, ${missing} not created` : ''}`;
  }

  /**
   * replicaFailure is `: ReplicaFailure FailedCreate: <why>` when the workload's status carries a
   * true ReplicaFailure condition (a Deployment's, copied from its ReplicaSet: a pod the API refused,
   * e.g. "exceeded quota"), else empty: a scale that ran out then says why pods are missing. A read
   * that fails adds nothing; the timeout is the error.
   */
  async #replicaFailure(): Promise<string> {
    try {
      const w = await this.#call('read workload', () => this.#readWorkload());
      const conditions = (
        w.status as
          | { conditions?: { type: string; status: string; reason?: string; message?: string }[] }
          | undefined
      )?.conditions;
      const c = conditions?.find((x) => x.type === 'ReplicaFailure' && x.status === 'True');
      return c ? `: ReplicaFailure ${c.reason ?? ''}: ${c.message ?? ''}` : '';
    } catch {
      return '';
    }
  }

  /**
   * resize patches the container's `resources` (limits and requests) with a strategic merge patch;
   * for a Deployment also `maxUnavailable: 0, maxSurge: 1`, so Kubernetes replaces one pod at a time
   * and each new pod is Ready before an old one goes. A StatefulSet has no surge — it deletes a pod
   * before creating its successor — so its PATCH also sets `updateStrategy.rollingUpdate.partition`
   * to the replicas (no pod's ordinal reaches it: none is recreated) and notes the user's partition
   * in `ROLL_ANNOTATION`, at the resourceVersion read (see `#writeAtRead`); then `#finishRoll` adds one replica (created at the new size), lowers the
   * partition to 0 once it is Ready, gives the extra pod back once every pod rolled (the highest
   * ordinal goes) and restores the partition. Resolves when the rollout is complete and the pods
   * watch shows it: the desired number of pods, all Ready at the new size, none terminating. The
   * PATCH is handed to `options.onSizeSaved` (see `savesSize`): for a StatefulSet too it is the
   * first write, so the answer does not wait for a pod.
   */
  async resize(size: InstanceSize, options?: ResizeOptions): Promise<void> {
    validateSize(size);
    if (size.cpu === undefined && size.memory === undefined)
      throw new ProviderError('UNSUPPORTED', 'kubernetes resizes cpu and memory, not instance types');
    if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
    await this.start();
    const quantities: Record<string, string> = {
      ...(size.cpu !== undefined && { cpu: formatCpu(size.cpu) }),
      ...(size.memory !== undefined && { memory: formatMemory(size.memory) }),
    };
    // A Deployment's template is Kubernetes' to roll: a later resize takes over an unfinished one.
    if (this.#config.kind === 'Deployment') return this.#resizeDeployment(size, quantities, options);
    // A resize while an earlier one's roll is being finished goes after it (one roll at a time).
    await this.#resuming;
    const workload = (await this.#call('read workload', () => this.#readWorkload())) as V1StatefulSet;
    // Refused (OnDelete, no such container) before anything is said or written.
    this.#rollStart(workload, quantities);
    const sizeBefore = this.#size;
    this.#size = { ...size };
    this.#logger.info(
      { group: this.#options.group, size },
      `resizing ${this.#ref()}: Kubernetes rolls the pods`,
    );
    const deadline = performance.now() + (this.#options.timeout ?? 600_000);
    const patching = this.#call('patch resources', () =>
      this.#writeAtRead(
        'patch resources',
        (read) => {
          const { roll, patch } = this.#rollStart(read, quantities);
          return { patch, out: roll };
        },
        {
          read: workload,
          retrying: 'writing the resize onto what it holds now',
          gaveUp: 'the resize wrote nothing',
        },
      ).then(({ out }) => out),
    );
    options?.onSizeSaved?.(patching.then(() => {}));
    const roll = await patching;
    await this.#finishRoll(roll, deadline, () => {
      this.#size = sizeBefore;
    });
    await this.#untilSized(size, deadline);
  }

  /**
   * rollStart is the first write of a StatefulSet resize, built from `workload` as read: the roll
   * (`ROLL_ANNOTATION`: the user's partition and the resources before, as noted by an earlier
   * resize of ours that did not finish, whose pods may still run them, else as set) and the PATCH
   * of the container's resources behind a partition of the replicas. Throws UNSUPPORTED for
   * updateStrategy OnDelete, INVALID_ARGUMENT for a missing container.
   */
  #rollStart(
    workload: V1StatefulSet,
    quantities: Record<string, string>,
  ): { roll: RollState; patch: object } {
    const strategy = (
      workload.spec as
        | { updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } } }
        | undefined
    )?.updateStrategy;
    if (strategy?.type === 'OnDelete')
      throw new ProviderError(
        'UNSUPPORTED',
        `${this.#ref()}: updateStrategy OnDelete: Kubernetes rolls no pod on a template change; resize it by hand`,
      );
    const container = this.#containerOf(workload);
    const earlier = rollState(workload.metadata?.annotations?.[ROLL_ANNOTATION]);
    const resources = resourcesOf(workload, container);
    const roll: RollState = {
      partition: earlier?.partition ?? strategy?.rollingUpdate?.partition ?? 0,
      replicas: this.#desired,
      previous: earlier?.previous ?? { [container]: copyResources(resources) },
      written: quantities,
    };
    const patch = {
      // Written at the resourceVersion read (see #writeAtRead): what the roll notes is what the StatefulSet held.
      metadata: { annotations: { [ROLL_ANNOTATION]: JSON.stringify(roll) } },
      spec: {
        // Ordinals 0..replicas-1 are below it: the StatefulSet controller recreates no pod yet.
        updateStrategy: { rollingUpdate: { partition: roll.replicas } },
        template: {
          spec: {
            containers: [{ name: container, resources: { limits: quantities, requests: quantities } }],
          },
        },
      },
    };
    return { roll, patch };
  }

  /**
   * writeAtRead makes one write of a StatefulSet roll at the resourceVersion read, as client-go's
   * RetryOnConflict does: `decide` builds the PATCH from the StatefulSet as read (`read`, else read
   * here), and it is written with that `metadata.resourceVersion` as a precondition; on 409 Conflict
   * (another client, kubectl or a controller, wrote the StatefulSet since) it is read again and
   * `decide` builds the PATCH from what it holds now, up to ROLL_WRITE_ATTEMPTS times, then fails
   * (API_ERROR naming the StatefulSet, the write and `gaveUp`). A decision with no PATCH writes
   * nothing. Returns the decision's outcome and the StatefulSet as written (undefined if nothing was).
   * Before, the roll's writes carried no precondition: a partition set between a read and a write
   * (the first PATCH's) or anywhere during the roll (the later ones') was written over.
   */
  async #writeAtRead<T>(
    what: string,
    decide: (workload: V1StatefulSet) => RollWrite<T>,
    say: { read?: V1StatefulSet; retrying: string; gaveUp: string },
  ): Promise<{ out: T; written?: V1StatefulSet }> {
    let workload = say.read ?? ((await this.#readWorkload()) as V1StatefulSet);
    for (let attempt = 1; ; attempt++) {
      const { patch, out } = decide(workload);
      if (!patch) return { out };
      try {
        const written = (await this.#patchWorkload({
          ...patch,
          metadata: { ...patch.metadata, resourceVersion: workload.metadata?.resourceVersion },
        })) as V1StatefulSet;
        return { out, written };
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
        if (attempt >= ROLL_WRITE_ATTEMPTS)
          throw new ProviderError(
            'API_ERROR',
            `${this.#ref()}: ${what} failed: changed by another client before each of ${ROLL_WRITE_ATTEMPTS} writes (${this.#errorText(err)}); ${say.gaveUp}`,
            { cause: err },
          );
        this.#logger.info(
          { group: this.#options.group, attempt },
          `${this.#ref()}: changed since it was read (409 Conflict); reading it again and ${say.retrying}`,
        );
        workload = (await this.#readWorkload()) as V1StatefulSet;
      }
    }
  }

  /**
   * resizeDeployment is `resize` for a Deployment: one PATCH of the container's resources, with
   * `DEPLOYMENT_ROLL_ANNOTATION` noting the resources in force, those written and the user's
   * `rollingUpdate`, and for a RollingUpdate Deployment `maxSurge: 1, maxUnavailable: 0` for the
   * length of the roll. A Recreate Deployment keeps its strategy: its pods may hold a
   * ReadWriteOnce volume a surge pod could never attach, so the resize has the downtime every
   * Recreate rollout has. Then `#settleDeployment`.
   */
  async #resizeDeployment(
    size: InstanceSize,
    quantities: Record<string, string>,
    options: ResizeOptions | undefined,
  ): Promise<void> {
    const deadline = performance.now() + (this.#options.timeout ?? 600_000);
    let roll: DeploymentRoll | undefined;
    let seq = 0;
    const patched = await this.#lockDeployment(async () => {
      const workload = await this.#call('read workload', () => this.#readWorkload());
      const container = this.#containerOf(workload);
      const earlier = deploymentRoll(workload.metadata?.annotations?.[DEPLOYMENT_ROLL_ANNOTATION]);
      const strategy = (
        workload.spec as
          | { strategy?: { type?: string; rollingUpdate?: DeploymentRoll['rollingUpdate'] } }
          | undefined
      )?.strategy;
      // In force: the template's resources once its rollout is complete; while an earlier resize of
      // ours still rolls, those from before it (its size never was in force).
      const rolling = earlier !== undefined && earlier.container === container && !rolledOut(workload);
      const userRolling = earlier
        ? earlier.rollingUpdate
        : strategy?.type === 'Recreate'
          ? undefined
          : {
              ...(strategy?.rollingUpdate?.maxSurge !== undefined && {
                maxSurge: strategy.rollingUpdate.maxSurge,
              }),
              ...(strategy?.rollingUpdate?.maxUnavailable !== undefined && {
                maxUnavailable: strategy.rollingUpdate.maxUnavailable,
              }),
            };
      roll = {
        container,
        previous: rolling ? earlier.previous : copyResources(resourcesOf(workload, container)),
        written: quantities,
        ...(userRolling && { rollingUpdate: userRolling }),
      };
      const patch = {
        metadata: { annotations: { [DEPLOYMENT_ROLL_ANNOTATION]: JSON.stringify(roll) } },
        spec: {
          ...(userRolling && {
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          }),
          template: {
            spec: {
              containers: [{ name: container, resources: { limits: quantities, requests: quantities } }],
            },
          },
        },
      };
      if (!rolling) this.#sizeInForce = this.#size;
      this.#size = { ...size };
      this.#logger.info(
        { group: this.#options.group, size },
        `resizing ${this.#ref()}: Kubernetes rolls the pods`,
      );
      const patching = this.#call('patch resources', () => this.#patchWorkload(patch));
      options?.onSizeSaved?.(patching.then(() => {}));
      const out = await patching;
      // A later resize of this provider takes over the template: this one ends once that is stored.
      seq = ++this.#resizeSeq;
      return out;
    });
    const superseded = () => {
      if (this.#resizeSeq === seq) return false;
      throw new ProviderError('RESIZE_SUPERSEDED', `resize of ${this.#ref()} superseded by a later one`);
    };
    await this.#settleDeployment(
      roll!,
      patched.metadata?.generation ?? 0,
      deadline,
      () => this.#resizeSeq === seq,
      superseded,
    );
    this.#sizeInForce = { ...size };
    await this.#untilSized(size, deadline, () => this.#resizeSeq !== seq);
    superseded();
  }

  /**
   * settleDeployment waits for the rollout of a Deployment resize (`generation`) and ends its roll:
   * complete, the user's strategy written back and the annotation removed; not complete within
   * the timeout (RESIZE_FAILED), the resources in force written back with them (see
   * `#revertDeployment`); another failure (a read refused), the strategy and annotation anyway,
   * the template as it is. Left to whoever comes next when `latest()` is false (a later resize of
   * this provider took the roll over: `superseded` throws RESIZE_SUPERSEDED), the provider closed
   * or the fence refused a write (CLOSED, FENCED: the next controller ends it).
   */
  async #settleDeployment(
    roll: DeploymentRoll,
    generation: number,
    deadline: number,
    latest: () => boolean,
    superseded = () => false,
  ): Promise<void> {
    try {
      await this.#waitRollout(generation, deadline, superseded);
    } catch (err) {
      if (!latest() || stopped(err)) throw err;
      if (err instanceof ProviderError && err.code === 'RESIZE_FAILED')
        throw await this.#revertDeployment(roll, err, latest);
      await this.#endDeploymentRoll(roll, latest).catch(() => {});
      throw err;
    }
    // The size is in force: a strategy not written back (logged) fails no resize.
    await this.#endDeploymentRoll(roll, latest).catch((err: unknown) => {
      if (stopped(err)) throw err;
    });
  }

  /**
   * endDeploymentRoll writes the user's strategy back and removes the annotation, unless a later
   * resize took the roll. A write that fails is logged and thrown: the annotation stays for the
   * next controller.
   */
  async #endDeploymentRoll(roll: DeploymentRoll, latest: () => boolean): Promise<void> {
    await this.#lockDeployment(async () => {
      if (!latest()) return;
      try {
        await this.#rollWrite('patch strategy', () => this.#patchWorkload(endRollPatch(roll)));
      } catch (err) {
        if (!stopped(err))
          this.#logger.error(
            { group: this.#options.group, err },
            `${this.#ref()}: the strategy could not be written back (annotation ${DEPLOYMENT_ROLL_ANNOTATION} kept for the next controller)`,
          );
        throw err;
      }
    });
  }

  /** lockDeployment runs `fn` under `#deploymentLock`. */
  #lockDeployment<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#deploymentLock.then(fn);
    this.#deploymentLock = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /** containerOf names the container a resize changes: `container` of the config, else the first. */
  #containerOf(workload: { spec?: { template?: { spec?: { containers?: { name: string }[] } } } }): string {
    const containers = workload.spec?.template?.spec?.containers ?? [];
    const container = this.#config.container ?? containers[0]?.name;
    if (!container || !containers.some((c) => c.name === container))
      throw new ProviderError('INVALID_ARGUMENT', `${this.#ref()}: no container ${container ?? '(none)'}`);
    return container;
  }

  /**
   * revertDeployment writes the resources in force before a failed resize back into a Deployment's
   * template (what `kubectl rollout undo` does), with the user's strategy and without the
   * annotation: the Deployment controller scales the old ReplicaSet back up (it never went below
   * the replicas: maxUnavailable 0) and removes the pods at the failed size. Left alone when the
   * template no longer holds the resize's resources (a later resize wrote its own). Returns the
   * error the resize fails with.
   */
  async #revertDeployment(roll: DeploymentRoll, failure: unknown, latest: () => boolean): Promise<unknown> {
    const { container, previous, written } = roll;
    try {
      return await this.#lockDeployment(async () => {
        if (!latest()) return failure;
        const workload = await this.#call('read workload', () => this.#readWorkload());
        const now = resourcesOf(workload, container);
        const ours = Object.entries(written).every(
          ([k, v]) => now?.limits?.[k] === v && now?.requests?.[k] === v,
        );
        // Another client's resources stand, and Kubernetes rolls the pods to them: size() says so.
        // Before, it kept saying the failed resize's size, which no pod gets.
        if (!ours) {
          this.#size = templateSize(now);
          return failure;
        }
        this.#logger.warn(
          { group: this.#options.group, err: failure, previous },
          `${this.#ref()}: the resize failed; writing the previous resources back, Kubernetes rolls the pods back to them`,
        );
        const end = endRollPatch(roll);
        await this.#rollWrite('patch resources', () =>
          this.#patchWorkload({
            ...end,
            spec: {
              ...end.spec,
              template: {
                spec: {
                  containers: [
                    {
                      name: container,
                      resources: {
                        limits: revertMap(previous.limits),
                        requests: revertMap(previous.requests),
                      },
                    },
                  ],
                },
              },
            },
          }),
        );
        this.#size = this.#sizeInForce;
        return new ProviderError(
          failure instanceof ProviderError ? failure.code : 'RESIZE_FAILED',
          `${(failure as Error).message}; resize reverted: the previous resources are back in the template, and Kubernetes rolls the pods back to them`,
          { cause: failure },
        );
      });
    } catch (err) {
      if (stopped(err)) return err;
      this.#logger.error(
        { group: this.#options.group, err },
        `${this.#ref()}: the previous resources could not be written back after a failed resize; the template keeps the new ones`,
      );
      return failure;
    }
  }

  /**
   * untilSized waits until the pods show the new size: the workload's status counts a rollout
   * complete while old pods still terminate, and the watch may lag the status.
   */
  async #untilSized(size: InstanceSize, deadline: number, superseded = () => false): Promise<void> {
    await this.#until(deadline, () => {
      if (superseded()) return true;
      // A pod stranded terminating (see `#settle`) is no pod of the workload's any more.
      const now = Date.now();
      const instances = this.instances().filter((i) => !this.#stranded(i, now));
      return (
        instances.length === this.#desired &&
        instances.every(
          (i) =>
            i.state === 'ready' &&
            (size.cpu === undefined || i.size?.cpu === size.cpu) &&
            (size.memory === undefined || i.size?.memory === size.memory),
        )
      );
    });
  }

  /**
   * finishRoll rolls a StatefulSet whose template a resize of ours changed behind a partition of
   * `roll.replicas` (see `resize`), from wherever it stands, each step idempotent so that a successor
   * controller can run it again: one replica more (`roll.replicas + 1`: the new pod's ordinal is at
   * the partition, so it starts at the new size), Ready; the partition down to 0, and the
   * StatefulSet controller's own rolling update (one pod at a time, each deleted once the others are
   * Ready, highest ordinal first) until the rollout is complete; the extra replica given back; the
   * user's partition restored and the annotation removed.
   *
   * A failure before the partition went to 0 (the extra pod not Ready in time, an API call refused)
   * first writes `roll.previous` back into the template, with the partition still at the replicas,
   * so no existing pod ever runs the new size; then the replica is given back, the partition
   * restored (`onRevert` called), and the failure thrown with its code, its message saying the
   * resize was reverted (cause: the failure); pods that another client's count kept at the new
   * size, not Ready, are deleted to come back at the previous one (see `#dropRolledPods`). Should that write
   * fail, the partition and the annotation stay (every pod still protected) for the next controller
   * to take up. A failure after the partition went to 0 leaves the template as it is: the extra pod
   * passed at the new size, and the StatefulSet controller's own roll stops at the first pod that is
   * not Ready, as it does for any template change; the replica is given back, the partition
   * restored. A close (CLOSED), or a write the fence refuses (FENCED: another controller leads),
   * leaves the roll as it stands for the next controller: no revert, no give-back. The give-back
   * leaves replicas another client set during the roll as they are (see `#giveBack`); `rebased`
   * (a successor that found such replicas at start) first writes them into the annotation, as the
   * roll does when it finds them as it writes its extra replica (see `#surgeAtRead`), or when their
   * count took its extra pod away while it waited for it (a scale-in to the replicas or below). The
   * partition's lowering, the revert and the partition's restoring are each decided from the
   * StatefulSet as read and written at its resourceVersion (see `#writeAtRead`): a partition another
   * client set during the roll stands (see `changedPartition`), a template whose resources another
   * client changed is not reverted (see `#revertRoll`).
   */
  async #finishRoll(
    begun: RollState,
    deadline: number,
    onRevert?: () => void,
    /** The replicas were set by another client since the annotation was written (see `start`). */
    rebased = false,
  ): Promise<void> {
    // Rebased (replicas taken from another client) if they changed before the extra one is written,
    // moved by a scale of ours during the roll (see `#rollFollowsScale`).
    const held = { roll: begun };
    this.#rolling.add(held);
    try {
      await this.#runRoll(held, deadline, onRevert, rebased);
    } finally {
      this.#rolling.delete(held);
    }
  }

  /** runRoll is `#finishRoll`'s work, on the roll `held` (which a scale of ours may move meanwhile). */
  async #runRoll(
    held: { roll: RollState },
    deadline: number,
    onRevert: (() => void) | undefined,
    rebased: boolean,
  ): Promise<void> {
    const surge = held.roll.replicas > 0;
    // The partition restored at the end: the user's, or one another client set during the roll.
    let user = held.roll.partition;
    let failure: unknown;
    // True until the partition goes to 0: every pod of the user's is behind it.
    let canary = held.roll.previous !== undefined;
    try {
      if (rebased) await this.#rebaseRoll(held.roll);
      if (surge) {
        // Until it is given back, spec.replicas is ours at replicas + 1: no read of it is taken.
        this.#beginWrite();
        // Written at the resourceVersion read, on top of the count read (see #surgeAtRead): replicas
        // another client set since the roll began are the count wanted, and the roll goes on from
        // them as a successor's does (`rebased`). Before, desired + 1 was written over them unread.
        // #surge is 1 once it landed, in the queue of scale writes (see #rollScaleWrite).
        // Their count during the wait for the extra pod too: a scale-in to it or below takes the pod
        // away (the wait read again, see below). Before, the wait went on for a pod that would never
        // come, and a size that was fine was reverted at the timeout.
        let when = "as a resize's roll began";
        for (let rebases = 0; ; ) {
          const theirs = await this.#rollWrite('patch scale', () =>
            this.#rollScaleWrite("a resize's extra replica", async () => {
              const theirs = await this.#surgeAtRead();
              if (theirs === undefined) this.#surge = 1;
              return theirs;
            }),
          );
          if (theirs !== undefined) {
            if (rebases++ >= SCALE_WRITE_ATTEMPTS)
              throw new ProviderError(
                'API_ERROR',
                `${this.#ref()}: patch scale failed: replicas set by another client before each of ${SCALE_WRITE_ATTEMPTS} writes of a resize's extra replica (last ${theirs})`,
              );
            this.#replicasChangedElsewhere(theirs, {
              when,
              was: `${this.#desired}`,
              kept: "the roll's extra one goes on top of theirs",
            });
            this.#desired = theirs;
            held.roll = rebasedTo(held.roll, theirs);
            await this.#rebaseRoll(held.roll);
            continue;
          }
          rebases = 0;
          when = "while a resize's extra pod came up";
          // The pod at the extra ordinal must be no pod from before the roll: a scale-in of ours leaves
          // one there until the partition, moved down with it, rolls it (see #rollFollowsScale).
          // Before, the count alone passed on it, and the partition went to 0 with no pod Ready at the
          // new size. A workload event since the extra replica landed whose count leaves no pod at the
          // extra ordinal ends the wait, and the scale is read again above: another client's count is
          // rebased onto; ours (seen before the scale moved #desired) reads as the roll's own, and the
          // wait goes on.
          const landed = this.#watchedReplicas;
          let takenAway = false;
          await this.#until(
            deadline,
            () => {
              const watched = this.#watchedReplicas;
              takenAway = watched !== landed && watched !== undefined && watched.replicas <= this.#desired;
              return (
                takenAway ||
                (this.instances().filter((i) => i.state === 'ready').length >= this.#desired + 1 &&
                  !preRoll(this.#pods.get(`${this.#config.name}-${this.#desired}`), held.roll))
              );
            },
            'the extra pod a StatefulSet rolls with was not Ready within the timeout',
          );
          if (!takenAway) break;
        }
      }
      // The previous resources leave the annotation with the partition, in one write: from here on a
      // failure (of this controller's or a successor's) leaves the template as it is. A partition
      // another client set during the roll is noted as the one to restore when it ends.
      const lowered = await this.#rollWrite('patch partition', () =>
        this.#writeAtRead(
          'patch partition',
          (read) => {
            const theirs = changedPartition(read, held.roll);
            return {
              patch: {
                ...((held.roll.previous || theirs !== undefined) && {
                  metadata: {
                    annotations: {
                      [ROLL_ANNOTATION]: JSON.stringify({
                        partition: theirs ?? user,
                        replicas: held.roll.replicas,
                      }),
                    },
                  },
                }),
                spec: { updateStrategy: { rollingUpdate: { partition: 0 } } },
              },
              out: theirs,
            };
          },
          { retrying: 'lowering the partition from what it holds now', gaveUp: 'the roll left as it stands' },
        ),
      );
      canary = false;
      if (lowered.out !== undefined) {
        this.#partitionChangedElsewhere(lowered.out, user, 'noted as the one to restore when the roll ends');
        user = lowered.out;
      }
      await this.#waitRollout(lowered.written?.metadata?.generation ?? 0, deadline);
    } catch (err) {
      failure = err;
    }
    // Closed, or deposed (the fence refused a write): the roll stays as it stands for the next controller.
    let closed = stopped(failure);
    let reverted = false;
    // A failed revert leaves the partition at the replicas: restoring it would roll the new size.
    let revertFailed = false;
    if (failure !== undefined && !closed && canary && held.roll.previous) {
      try {
        reverted = await this.#revertRoll(held.roll, held.roll.previous, user, failure);
        if (reverted) onRevert?.();
      } catch (err) {
        revertFailed = true;
        if (stopped(err)) {
          closed = true;
          failure = err;
        }
        this.#logger.error(
          { group: this.#options.group, err },
          `${this.#ref()}: the previous resources could not be written back; the partition (${canaryOf(held.roll)}) and annotation ${ROLL_ANNOTATION} stay, so no pod rolls, for the next controller`,
        );
      }
    }
    const keepRoll = closed || revertFailed;
    if (surge && !closed) {
      // Given back whether or not the roll finished: the extra pod was only ever for the roll.
      try {
        await this.#giveBack();
      } catch (err) {
        if (stopped(err)) closed = true;
        failure = stopped(err) ? err : (failure ?? err);
      } finally {
        // Already, unless the fence refused the give-back before it was queued.
        this.#surge = 0;
        this.#endWrite();
      }
    } else if (surge) {
      this.#surge = 0;
      this.#endWrite();
    }
    // Their count kept pods at ordinals the partition did not hold back (see #dropRolledPods).
    if (reverted && !closed && this.#desired > canaryOf(held.roll)) {
      const refused = await this.#dropRolledPods(held.roll);
      if (refused !== undefined) {
        closed = true;
        failure = refused;
      }
    }
    if (!keepRoll && !closed) {
      try {
        // Unless another client set the partition during the roll: theirs stands. Before, the
        // user's partition noted at the roll's start was written over it.
        const restored = await this.#rollWrite('patch partition', () =>
          this.#writeAtRead(
            'patch partition',
            (read) => {
              const theirs = changedPartition(read, held.roll);
              return {
                patch: {
                  metadata: { annotations: { [ROLL_ANNOTATION]: null } },
                  ...(theirs === undefined && {
                    spec: { updateStrategy: { rollingUpdate: { partition: user } } },
                  }),
                },
                out: theirs,
              };
            },
            { retrying: 'ending the roll from what it holds now', gaveUp: 'the roll left as it stands' },
          ),
        );
        if (restored.out !== undefined) this.#partitionChangedElsewhere(restored.out, user, 'left as set');
      } catch (err) {
        failure = stopped(err) ? err : (failure ?? err);
      }
    }
    if (reverted && !closed)
      throw new ProviderError(
        failure instanceof ProviderError ? failure.code : 'RESIZE_FAILED',
        `${(failure as Error).message}; resize reverted: the previous resources are back in the template, no pod of the workload was rolled`,
        { cause: failure },
      );
    if (failure !== undefined) throw failure;
  }

  /**
   * revertRoll writes `previous` (the resources before a resize whose roll failed before the
   * partition went to 0) back into the StatefulSet's template, at the resourceVersion read (see
   * `#writeAtRead`), with the partition still at the replicas: no existing pod ever runs the new
   * size. Left alone, and false returned, when the template no longer holds the quantities the
   * resize wrote (`roll.written`): another client wrote its own since, as `#revertDeployment` leaves
   * a Deployment's. A partition another client set during the roll is left as set (their pods roll
   * back with the template). Before, the revert wrote `previous` and the partition over whatever
   * the StatefulSet held.
   */
  async #revertRoll(
    roll: RollState,
    previous: Record<string, ContainerResources>,
    user: number,
    failure: unknown,
  ): Promise<boolean> {
    this.#logger.warn(
      { group: this.#options.group, err: failure, previous },
      `${this.#ref()}: the resize failed before any pod of the workload was rolled; writing the previous resources back`,
    );
    const [container] = Object.keys(previous);
    const { out } = await this.#rollWrite('patch resources', () =>
      this.#writeAtRead(
        'patch resources',
        (read): RollWrite<{ ours: boolean; theirs?: number; size?: InstanceSize }> => {
          const written = roll.written;
          const ours =
            written === undefined ||
            Object.keys(previous).every((container) => {
              const now = resourcesOf(read, container);
              return Object.entries(written).every(
                ([k, v]) => now?.limits?.[k] === v && now?.requests?.[k] === v,
              );
            });
          if (!ours) return { out: { ours, size: templateSize(resourcesOf(read, container ?? '')) } };
          const theirs = changedPartition(read, roll);
          // The partition was lowered, its answer lost: the roll is noted with `previous` again, so
          // the partition at the replicas is ours.
          const lowered = theirs === undefined && !rollState(annotationOf(read))?.previous;
          return {
            patch: {
              ...(lowered && {
                metadata: {
                  annotations: { [ROLL_ANNOTATION]: JSON.stringify({ ...roll, partition: user }) },
                },
              }),
              spec: {
                ...(theirs === undefined && {
                  updateStrategy: { rollingUpdate: { partition: canaryOf(roll) } },
                }),
                template: {
                  spec: {
                    containers: Object.entries(previous).map(([name, r]) => ({
                      name,
                      resources: { limits: revertMap(r.limits), requests: revertMap(r.requests) },
                    })),
                  },
                },
              },
            },
            out: { ours, ...(theirs !== undefined && { theirs }) },
          };
        },
        {
          retrying: 'writing the previous resources back onto what it holds now',
          gaveUp: 'nothing reverted',
        },
      ),
    );
    if (!out.ours) {
      this.#logger.warn(
        { group: this.#options.group, written: roll.written, reason: 'ResourcesChangedElsewhere' },
        `${this.#ref()}: the template's resources are not the ones the resize wrote (${JSON.stringify(roll.written)}), set by another client during its roll; left as set, not reverted`,
      );
      // Theirs are what the pods roll to once the partition is restored: size() says so. Before, it
      // kept saying the failed resize's size, which no pod gets.
      this.#size = out.size;
      return false;
    }
    if (out.theirs !== undefined) this.#partitionChangedElsewhere(out.theirs, user, 'left as set');
    return true;
  }

  /**
   * dropRolledPods deletes, after a revert, the pods at an ordinal at or above the roll's replicas
   * that run the quantities the resize wrote and are not Ready: the extra pod, kept because another
   * client set the replicas above the roll's during it (see `#giveBack`), and pods that count added
   * (their ordinals were at or above the partition: created at the new size). The StatefulSet
   * controller recreates each from the reverted template; left to it, it replaces no pod that is not
   * Ready (Kubernetes' "forced rollback": the pods stayed at the size that had failed, and the
   * controller stopped at them, creating none of the count above). A Ready one is left to the
   * controller's own roll. Each delete carries the pod's uid as a precondition; a failure is logged.
   * Returns the error of a delete refused as closed or fenced (the rest is left), else undefined.
   */
  async #dropRolledPods(roll: RollState): Promise<unknown> {
    const { previous, written } = roll;
    if (!previous || !written) return undefined;
    const prefix = `${this.#config.name}-`;
    const rolled = [...this.#pods.values()].filter((pod) => {
      const name = pod.metadata?.name ?? '';
      const ordinal = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : Number.NaN;
      if (!Number.isInteger(ordinal) || ordinal < canaryOf(roll) || podState(pod) !== 'starting')
        return false;
      return Object.keys(previous).every((container) => {
        const r = pod.spec?.containers?.find((c) => c.name === container)?.resources;
        return Object.entries(written).every(([k, v]) => r?.limits?.[k] === v && r?.requests?.[k] === v);
      });
    });
    for (const pod of rolled) {
      const name = pod.metadata!.name!;
      try {
        await this.#rollWrite('delete pod', () => this.#deleteRolledPod(name, pod.metadata?.uid));
        this.#logger.warn(
          { group: this.#options.group, instance: name, reason: 'RolledPodDeleted' },
          `${this.#ref()}: deleted ${name}, not Ready at the resize's size after the revert; it comes back at the previous resources`,
        );
      } catch (err) {
        if (stopped(err)) return err;
        this.#logger.error(
          { group: this.#options.group, instance: name, err },
          `${this.#ref()}: ${name} runs the resize's size after the revert and is not Ready; it could not be deleted: delete it so that it comes back at the previous resources`,
        );
      }
    }
    return undefined;
  }

  /** deleteRolledPod deletes pod `name` at its `uid` (precondition); gone already (404, 409) is no failure. */
  async #deleteRolledPod(name: string, uid: string | undefined): Promise<void> {
    const core = this.#api(this.#k8s!.CoreV1Api);
    try {
      await core.deleteNamespacedPod({
        name,
        namespace: this.#config.namespace,
        ...(uid && { body: { preconditions: { uid } } }),
      });
    } catch (err) {
      const status = (err as { code?: number }).code;
      if (status !== 404 && status !== 409) throw err;
    }
  }

  /**
   * partitionChangedElsewhere notes a partition another client (kubectl, a controller) set during
   * a resize's roll, which the roll keeps (`kept`) rather than write the user's over it.
   */
  #partitionChangedElsewhere(partition: number, user: number, kept: string): void {
    this.#logger.warn(
      { group: this.#options.group, partition, restoring: user, reason: 'PartitionChangedElsewhere' },
      `${this.#ref()}: partition is ${partition}, set by another client during a resize's roll (the roll would have restored ${user}); ${kept}`,
    );
  }

  /**
   * rebaseRoll writes `roll`, whose replicas another client set since its annotation was written,
   * into the annotation, so a successor goes on from them too; while every pod is behind it, the
   * partition moves with them: the extra pod's ordinal is at it. Decided from the StatefulSet as
   * read and written at its resourceVersion (see `#writeAtRead`; a 409 reads again and rebases
   * onto what it holds now): a partition another client set stands, and the partition's lowering
   * notes it as the one to restore (see `changedPartition`). Before, the PATCH carried no
   * precondition and was built from nothing read: a partition set since was written over.
   */
  async #rebaseRoll(roll: RollState): Promise<void> {
    await this.#rollWrite('patch partition', () =>
      this.#writeAtRead(
        'patch partition',
        (read) => {
          const theirs = changedPartition(read, roll);
          return {
            patch: {
              metadata: { annotations: { [ROLL_ANNOTATION]: JSON.stringify(roll) } },
              ...(roll.previous &&
                theirs === undefined && {
                  spec: { updateStrategy: { rollingUpdate: { partition: roll.replicas } } },
                }),
            },
            out: undefined,
          };
        },
        {
          retrying: 'rebasing the roll onto what it holds now',
          gaveUp: 'the roll left as it stands',
        },
      ),
    );
  }

  /**
   * rollFollowsScale writes `n`, the replicas a scale of ours just wrote during a StatefulSet roll of
   * ours, into the roll (the one running here, and `ROLL_ANNOTATION` as read, at its resourceVersion:
   * see `#writeAtRead`), so that a successor that finds the roll half-done goes on from them. While
   * every pod is behind the partition, it stays where it is (`canary`): pods the scale added above
   * it run the new size, and a revert deletes them as it deletes the extra pod. Before, the
   * annotation kept the replicas from before the scale: a successor read the count written (and the
   * extra replica) as another client's, and finished the roll there (5 for a scale to 4). A scale-in
   * below the partition took the extra pod away: the partition (ours, as read) comes down to the
   * count, so that the pod at the extra ordinal, one from before the roll, rolls to the new size and
   * is the one the roll waits for. Before, the roll took that pod, Ready at the previous size, for
   * its extra one and lowered the partition to 0 at once: a size whose pods fail rolled the rest.
   */
  async #rollFollowsScale(n: number): Promise<void> {
    if (this.#rolling.size === 0) return;
    for (const held of this.#rolling) held.roll = movedTo(held.roll, n);
    // The scale is made: a failure here fails no scale. The roll's next write of the annotation
    // (the partition's lowering) carries the count too.
    await this.#rollWrite('patch annotation', () =>
      this.#writeAtRead(
        'patch annotation',
        (read) => {
          const noted = rollState(annotationOf(read));
          if (noted === undefined || noted.replicas === n) return { out: undefined };
          const moved = movedTo(noted, n);
          const down =
            moved.previous &&
            canaryOf(moved) < canaryOf(noted) &&
            changedPartition(read, noted) === undefined;
          return {
            patch: {
              metadata: { annotations: { [ROLL_ANNOTATION]: JSON.stringify(moved) } },
              ...(down && { spec: { updateStrategy: { rollingUpdate: { partition: canaryOf(moved) } } } }),
            },
            out: undefined,
          };
        },
        {
          retrying: "noting the scale's replicas in the roll onto what it holds now",
          gaveUp: "the roll's annotation keeps the replicas from before the scale",
        },
      ),
    ).catch((err: unknown) => {
      if (stopped(err)) return;
      this.#logger.error(
        { group: this.#options.group, err },
        `${this.#ref()}: the scale to ${n} is made, but annotation ${ROLL_ANNOTATION} could not be given its replicas (${(err as Error).message}); a controller that takes the roll over before it ends may roll to another count`,
      );
    });
  }

  /**
   * surgeAtRead writes a roll's extra replica: `spec.replicas` to the desired count + 1, at the
   * resourceVersion read (see `#writeScaleAtRead`), only while the scale holds the desired count
   * (already desired + 1: a successor's, or a write whose answer was lost; nothing written).
   * Returns undefined once so, or the count another client (kubectl scale, an HPA) set, which is
   * not written over.
   */
  #surgeAtRead(): Promise<number | undefined> {
    return this.#writeScaleAtRead((replicas) => {
      if (replicas === this.#desired) return { replicas: replicas + 1, out: undefined };
      return { out: replicas === this.#desired + 1 ? undefined : replicas };
    });
  }

  /**
   * giveBack ends a roll's extra replica: `spec.replicas` back to the desired count, as written
   * before the extra one, at the resourceVersion read (see `#writeScaleAtRead`). Unless another
   * client (kubectl scale, an HPA) set the replicas during the roll: theirs are the count wanted, as
   * for a Deployment, whose surge comes on top of `spec.replicas`, and are left as they are (desired
   * takes them). Before, the give-back wrote the count from before the roll over them, and a count
   * set between its read and its write was written over unseen.
   */
  async #giveBack(): Promise<void> {
    const theirs = await this.#rollWrite('patch scale', () =>
      this.#rollScaleWrite("the give-back of a resize's extra replica", async () => {
        try {
          return await this.#writeScaleAtRead((replicas) => {
            if (replicas === this.#desired + 1) return { replicas: this.#desired, out: undefined };
            return { out: replicas === this.#desired ? undefined : replicas };
          });
        } finally {
          // Given back, or failed: the roll is over either way; a scale queued behind decides at its read.
          this.#surge = 0;
        }
      }),
    );
    if (theirs === undefined) return;
    this.#replicasChangedElsewhere(theirs, {
      when: "during a resize's roll",
      was: `${this.#desired} and the roll's extra one`,
      kept: 'left as set',
    });
    this.#desired = theirs;
  }

  /**
   * replicasChangedElsewhere notes replicas another client (kubectl scale, an HPA) set during a
   * resize's roll (`when`; it was `was`), which the roll takes as the count wanted (`kept`).
   */
  #replicasChangedElsewhere(replicas: number, say: { when: string; was: string; kept: string }): void {
    this.#logger.warn(
      {
        group: this.#options.group,
        target: this.#desired,
        desired: replicas,
        reason: 'ReplicasChangedElsewhere',
      },
      `${this.#ref()}: replicas is ${replicas}, set by another client ${say.when} (it was ${say.was}); ${say.kept}, desired is ${replicas} now`,
    );
  }

  /**
   * replace has Kubernetes replace one Ready pod, as a user would by hand: drain it, then evict it
   * (policy/v1 Eviction, so a PodDisruptionBudget is honoured) and let the Deployment or StatefulSet
   * controller create its successor. Kubernetes only starts that successor once the pod is going,
   * so `planEngineReplace` guards it: refused (CAPACITY) when no other pod is Ready, (BUSY) while
   * another pod of the workload terminates or another replacement runs. A budget that refuses the
   * eviction (429) is honoured, never bypassed: CAPACITY, for the caller to retry later. Only where
   * the Eviction API itself is unavailable (404/405) or not granted (403) is the pod deleted
   * instead. Both name the pod's uid as a precondition, so a StatefulSet pod recreated under the
   * same name is never hit. Resolves once that pod is terminating or gone and as many pods are Ready
   * as before (at most the desired count).
   */
  async replace(id: string): Promise<ReplaceResult> {
    if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
    await this.start();
    if (this.#replacing)
      throw new ProviderError('BUSY', `${this.#ref()}: another replacement is in progress`);
    const plan = planEngineReplace(this.instances(), id, this.#desired);
    if (!plan.ok) throw new ProviderError(replacePlanCode(plan.reason), `${this.#ref()}: ${plan.message}`);
    const victim = this.instances().find((i) => i.id === id)!;
    const uid = this.#pods.get(id)?.metadata?.uid;
    const readyBefore = this.instances().filter((i) => i.state === 'ready').length;
    this.#replacing = true;
    // Held out after an earlier try: not returned to rotation while this one may take it away.
    this.#drained.forget(id);
    try {
      this.#logger.info(
        { group: this.#options.group, instance: id, plan: plan.reason },
        `replacing pod ${id}: evicting it for ${this.#ref()} to recreate (${plan.othersReady} other pods Ready)`,
      );
      await this.#options.drain?.(victim).catch(() => {});
      let method: 'eviction' | 'delete';
      try {
        // The drain outlasts replace's fence check: a controller deposed meanwhile evicts nothing.
        await this.#options.fence?.(`evict ${id}`);
        method = await this.#evict(id, uid);
      } catch (err) {
        // Drained, not evicted: it stays out of rotation (it fails its checks), listed Ready so the
        // replacement is tried again, until it passes its checks again (see returnToService).
        this.#drained.hold(id);
        throw err;
      }
      const deadline = performance.now() + (this.#options.timeout ?? 600_000);
      await this.#until(
        deadline,
        () => {
          // Terminating counts as gone: it serves nothing, and its grace period is the pod's own.
          const pod = [...this.#pods.values()].find((p) =>
            uid ? p.metadata?.uid === uid : p.metadata?.name === id,
          );
          const gone = pod === undefined || pod.metadata?.deletionTimestamp !== undefined;
          const ready = this.instances().filter((i) => i.state === 'ready').length;
          return gone && ready >= Math.min(readyBefore, this.#desired);
        },
        `pod ${id} not replaced by a Ready pod within the timeout`,
      );
      return {
        method,
        detail:
          method === 'eviction'
            ? `evicted pod ${id} (policy/v1 Eviction); ${this.#ref()} created a Ready successor`
            : `deleted pod ${id} (the Eviction API is not available to Scaleplane here); ${this.#ref()} created a Ready successor`,
      };
    } finally {
      this.#replacing = false;
    }
  }

  /**
   * returnToService puts pod `id`, drained for an eviction that failed, back into rotation once it
   * passes its health checks again, if it is still Ready and not terminating (see ReturnToService).
   */
  async returnToService(id: string): Promise<boolean> {
    if (!this.#drained.held(id)) return false;
    const ready = this.instances().some((i) => i.id === id && i.state === 'ready');
    return this.#drained.returnHeld(id, ready, () => this.emit('change'));
  }

  /** evict asks for an eviction of pod `name` and falls back to a delete where eviction is unavailable. */
  async #evict(name: string, uid: string | undefined): Promise<'eviction' | 'delete'> {
    const core = this.#api(this.#k8s!.CoreV1Api);
    const namespace = this.#config.namespace;
    const preconditions = uid ? { preconditions: { uid } } : undefined;
    try {
      await core.createNamespacedPodEviction({
        name,
        namespace,
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name, namespace },
          ...(preconditions && { deleteOptions: preconditions }),
        },
      });
      return 'eviction';
    } catch (err) {
      const status = (err as { code?: number }).code;
      // 409: the uid precondition failed (a namesake replaced the pod: ours is gone), or the
      // budget's status changed under a concurrent eviction (ours is still there: try later).
      if (status === 409) {
        if (await this.#podGone(name, uid)) return 'eviction';
        throw new ProviderError('BUSY', `${this.#ref()}: eviction of ${name} conflicted (409); try again`, {
          cause: err,
        });
      }
      if (status === 429) {
        // A budget's 429 carries a DisruptionBudget cause (its needs and its healthy pods); another
        // 429 is the API server's own throttling (API Priority and Fairness), no budget involved.
        // Before, every 429 was "a PodDisruptionBudget allows no disruption now".
        const s = apiStatus(err);
        const causes = (s?.details?.causes ?? []).flatMap((c) => (c.message ? [c.message] : []));
        const budget =
          (s?.details?.causes ?? []).some((c) => c.reason === 'DisruptionBudget') ||
          /disruption budget/i.test(s?.message ?? '');
        throw new ProviderError(
          budget ? 'CAPACITY' : 'BUSY',
          `${this.#ref()}: eviction of ${name} refused (${this.#errorText(err)}${causes.length > 0 ? ` ${causes.join('; ')}` : ''}); try again later`,
          { cause: err },
        );
      }
      if (status !== 404 && status !== 405 && status !== 403)
        throw new ProviderError(
          'API_ERROR',
          `${this.#ref()}: evict pod ${name} failed: ${this.#errorText(err)}`,
          {
            cause: err,
          },
        );
      this.#logger.warn(
        { group: this.#options.group, instance: name, status },
        `the Eviction API answered ${status}: deleting pod ${name} instead`,
      );
    }
    try {
      await core.deleteNamespacedPod({ name, namespace, ...(preconditions && { body: preconditions }) });
    } catch (err) {
      const status = (err as { code?: number }).code;
      // Gone already (404), or a namesake with another uid (409): nothing of ours is left to delete.
      if (status !== 404 && status !== 409)
        throw new ProviderError(
          'API_ERROR',
          `${this.#ref()}: delete pod ${name} failed: ${this.#errorText(err)}`,
          {
            cause: err,
          },
        );
    }
    return 'delete';
  }

  /** podGone says whether pod `name` with `uid` no longer exists (read from the API, not the watch). */
  async #podGone(name: string, uid: string | undefined): Promise<boolean> {
    const core = this.#api(this.#k8s!.CoreV1Api);
    try {
      const pod = await core.readNamespacedPod({ name, namespace: this.#config.namespace });
      return uid !== undefined && pod.metadata?.uid !== uid;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return true;
      throw new ProviderError(
        'API_ERROR',
        `${this.#ref()}: read pod ${name} failed: ${this.#errorText(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  /**
   * readPodUsage reads the workload's pods' CPU and memory from the resource metrics API
   * (metrics.k8s.io/v1beta1 PodMetrics, served by metrics-server), as the HPA does: one LIST of the
   * namespace's PodMetrics by the workload's selector, paired with the pods' requests. Not through
   * `#call`: it is polled every second, and its failures are the metric's (missing, reported once
   * per streak by the reading), not the provider's errors. Before, the CPU window read local
   * processes only, so a `cpu` metric on a Kubernetes group was missing forever, silently.
   */
  async readPodUsage(): Promise<PodUsage[]> {
    if (!this.#k8s) throw new ProviderError('API_ERROR', `${this.#ref()}: not started`);
    const api = this.#api(this.#k8s.CustomObjectsApi);
    try {
      const list = (await api.listNamespacedCustomObject({
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        namespace: this.#config.namespace,
        plural: 'pods',
        labelSelector: this.#selector,
      })) as { items?: PodMetricLike[] };
      return podUsages(this.#pods.values(), list.items ?? []);
    } catch (err) {
      // 404: the API server serves no metrics.k8s.io (no metrics-server, or its APIService down).
      const code = (err as { code?: unknown } | undefined)?.code;
      const why = code === 404 ? METRICS_SERVER_MISSING : this.#errorText(err);
      throw new ProviderError('API_ERROR', `${this.#ref()}: read PodMetrics failed: ${why}`, { cause: err });
    }
  }

  /** close stops the watch; the workload keeps running (Kubernetes owns its pods). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#rewatchTimers) clearTimeout(timer);
    for (const timer of this.#watchdogs) clearTimeout(timer);
    for (const watch of this.#watches.values()) watch.abort();
    clearTimeout(this.#replicasTimer);
    clearTimeout(this.#strandTimer);
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    for (const check of [...this.#checks]) check();
  }

  /** sizeWrite names the write a resize outlives this controller by (see `savesSize`). */
  get sizeWrite(): string {
    return `the PATCH of ${this.#ref()}'s pod template resources`;
  }

  #ref(): string {
    return `${this.#config.kind} ${this.#config.namespace}/${this.#config.name}`;
  }

  #apps() {
    return this.#api(this.#k8s!.AppsV1Api);
  }

  /**
   * api makes a client of API group `type` as KubeConfig.makeApiClient does, with one addition:
   * each request is aborted after `requestTimeout`. Neither the client nor fetch has a default
   * timeout, so a request to an API server that accepted the connection and went silent (a paused
   * control plane, a half-open connection) never ended.
   */
  #api<T>(type: new (configuration: Configuration) => T): T {
    const k8s = this.#k8s!;
    const cluster = this.#kc!.getCurrentCluster();
    if (!cluster)
      throw new ProviderError('API_ERROR', `${this.#ref()}: the kubeconfig has no current cluster`);
    const timeoutMs = this.#options.requestTimeout ?? 30_000;
    return new type(
      k8s.createConfiguration({
        baseServer: new k8s.ServerConfiguration(cluster.server, {}),
        authMethods: { default: this.#kc! },
        promiseMiddleware: [
          {
            pre: async (request) => {
              request.setSignal(AbortSignal.timeout(timeoutMs));
              return request;
            },
            post: async (response) => response,
          },
        ],
      }),
    );
  }

  async #readWorkload() {
    const params = { name: this.#config.name, namespace: this.#config.namespace };
    return this.#config.kind === 'StatefulSet'
      ? this.#apps().readNamespacedStatefulSet(params)
      : this.#apps().readNamespacedDeployment(params);
  }

  async #patchWorkload(body: object) {
    const params = { name: this.#config.name, namespace: this.#config.namespace, body };
    const options = this.#k8s!.setHeaderOptions('Content-Type', this.#k8s!.PatchStrategy.StrategicMergePatch);
    return this.#config.kind === 'StatefulSet'
      ? this.#apps().patchNamespacedStatefulSet(params, options)
      : this.#apps().patchNamespacedDeployment(params, options);
  }

  async #readScale() {
    const params = { name: this.#config.name, namespace: this.#config.namespace };
    return this.#config.kind === 'StatefulSet'
      ? this.#apps().readNamespacedStatefulSetScale(params)
      : this.#apps().readNamespacedDeploymentScale(params);
  }

  /** writing brackets a write of ours to `spec.replicas` (see `#writeEpoch`). */
  async #writing<T>(fn: () => Promise<T>): Promise<T> {
    this.#beginWrite();
    try {
      return await fn();
    } finally {
      this.#endWrite();
    }
  }

  #beginWrite(): void {
    this.#writes++;
    this.#writeEpoch++;
  }

  #endWrite(): void {
    this.#writes--;
    this.#writeEpoch++;
  }

  /**
   * scheduleReplicasRead reads the workload's replicas `replicasReadInterval` after a pod event,
   * at most once per interval: a scale by another client shows as pods created or deleted.
   */
  #scheduleReplicasRead(): void {
    if (this.#closed || this.#replicasTimer !== undefined) return;
    if (this.#replicasReading) {
      this.#replicasAgain = true;
      return;
    }
    this.#replicasTimer = setTimeout(() => {
      this.#replicasTimer = undefined;
      void this.#readReplicas();
    }, this.#options.replicasReadInterval ?? 500);
    this.#replicasTimer.unref();
  }

  async #readReplicas(): Promise<void> {
    this.#replicasReading = true;
    const epoch = this.#writes > 0 ? -1 : this.#writeEpoch;
    try {
      const scale = await this.#call('read scale', () => this.#readScale());
      this.#followReplicas(scale.spec?.replicas ?? 0, epoch);
    } catch (err) {
      if (!this.#closed) this.#report(err as Error);
    } finally {
      this.#replicasReading = false;
      if (this.#replicasAgain) {
        this.#replicasAgain = false;
        this.#scheduleReplicasRead();
      }
    }
  }

  /**
   * followReplicas takes `replicas`, read from the workload in a read sent at `epoch` (-1: during a
   * write of ours), as `desired()` when another client set them: no write of ours was in progress
   * or began since the read was sent (Kubernetes reads are consistent, so one such read is enough)
   * and they differ. Logged once per change (a warning while leading; info while only observing,
   * where the leader's writes are expected, and in `mode: hpa`, where the HPA owns them) and
   * announced with `change`; a waiting scaleTo resolves, its target no longer what the workload
   * converges to.
   */
  #followReplicas(replicas: number, epoch: number): void {
    if (this.#closed) return;
    if (epoch !== this.#writeEpoch || this.#writes > 0) {
      // Raced our own write: read again once it is done (a write still going schedules nothing).
      if (this.#writes === 0) this.#scheduleReplicasRead();
      return;
    }
    const was = this.#desired;
    if (replicas === was) return;
    const fields = {
      group: this.#options.group,
      target: was,
      desired: replicas,
      reason: 'ReplicasChangedElsewhere',
    };
    if (this.#started) this.#nameLateHpa();
    if (this.#waiters.length > 0)
      this.#logger.warn(
        fields,
        `${this.#ref()}: replicas is ${replicas}, set by another client while scaling to ${was} (${this.#progress()}); not waiting for ${was} any more; desired is ${replicas} now`,
      );
    else if (this.#started && !this.autoscaled)
      this.#logger.warn(
        fields,
        `${this.#ref()}: replicas is ${replicas}, set by another client (it was ${was}); desired is ${replicas} now`,
      );
    else
      this.#logger.info(
        fields,
        `${this.#ref()}: replicas is ${replicas} (it was ${was}); desired is ${replicas} now`,
      );
    this.#desired = replicas;
    if (this.autoscaled && this.#started) void this.#readHpaFor(replicas);
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    this.#changed();
  }

  /**
   * readHpaFor reads our HPA after the replicas became `replicas`, until its status names that
   * count: the HPA controller writes the scale first and its status (metrics, conditions) just
   * after, so the first read may still hold the sync before. At most HPA_STATUS_READS reads,
   * `replicasReadInterval` apart; what the last one said stands (another client set the count).
   */
  async #readHpaFor(replicas: number): Promise<void> {
    const seen: HpaSeen = { for: replicas, reading: true };
    this.#hpaSeen = seen;
    const api = this.#api(this.#k8s!.AutoscalingV2Api);
    const { name, namespace } = this.#config;
    for (let read = 1; read <= HPA_STATUS_READS && this.#hpaSeen === seen && !this.#closed; read++) {
      try {
        seen.hpa = (await this.#call('read HPA', () =>
          api.readNamespacedHorizontalPodAutoscaler({ name, namespace }),
        )) as HpaLike;
        seen.error = undefined;
        this.#hpaLast = { hpa: seen.hpa };
        if (seen.hpa.status?.desiredReplicas === replicas) break;
      } catch (err) {
        seen.error = this.#errorText((err as ProviderError).cause ?? err);
      }
      if (read < HPA_STATUS_READS)
        await delay(this.#options.replicasReadInterval ?? 500, undefined, { ref: false });
    }
    seen.reading = false;
  }

  /**
   * autoscaler is our HPA as `status` shows it (`mode: hpa`): its metrics from `status.currentMetrics`
   * against its spec's targets, as last read. Before, `status` showed the cpu average as `n/a`
   * (Scaleplane's policy, which computes it, stays out in hpa mode) and, without a `scaling`
   * section, the group as `manual`. Undefined outside hpa mode.
   */
  autoscaler(): EngineAutoscaler | undefined {
    if (!this.autoscaled) return undefined;
    const { hpa, error } = this.#hpaLast;
    return {
      name: `HorizontalPodAutoscaler ${this.#config.namespace}/${this.#config.name}`,
      metrics: hpa ? hpaMetricFigures(hpa) : [],
      ...(error !== undefined && { error }),
    };
  }

  /** readAutoscaler reads our HPA for `autoscaler()` (`mode: hpa`, once started); a failure is kept beside the last read. */
  async readAutoscaler(): Promise<void> {
    if (!this.autoscaled || !this.#started || this.#closed) return;
    const api = this.#api(this.#k8s!.AutoscalingV2Api);
    const { name, namespace } = this.#config;
    try {
      const hpa = (await this.#call('read HPA', () =>
        api.readNamespacedHorizontalPodAutoscaler({ name, namespace }),
      )) as HpaLike;
      this.#hpaLast = { hpa };
    } catch (err) {
      this.#hpaLast = { ...this.#hpaLast, error: this.#errorText((err as ProviderError).cause ?? err) };
    }
  }

  /**
   * explainScaling says why the count went from `before` to `after` in `mode: hpa`, from the HPA's
   * status read after the change (see `#readHpaFor`): undefined while those reads go on, or when the
   * count is not the one they were read for (a change not yet seen here). Undefined outside hpa mode.
   */
  explainScaling(before: number, after: number): EngineScaling | undefined {
    const seen = this.#hpaSeen;
    if (!this.autoscaled || seen === undefined || seen.reading || seen.for !== after) return undefined;
    return explainHpaScaling({
      ref: `HorizontalPodAutoscaler ${this.#config.namespace}/${this.#config.name}`,
      before,
      after,
      hpa: seen.hpa,
      ...(seen.error !== undefined && { readError: seen.error }),
    });
  }

  /**
   * scaleOver writes `n` (plus a resize's extra replica) over the count Scaleplane last wrote or read, as
   * client-go's RetryOnConflict around a read and an update of the scale: it reads the scale, and
   * when its `spec.replicas` is still `expected` merge-patches the new count at the resourceVersion
   * read (a precondition: the API server answers 409 Conflict if the object changed since); a 409
   * reads again (most often only the status changed: the same count, written again), at most
   * SCALE_WRITE_ATTEMPTS times. Returns undefined once written, or the count another client set
   * (a `kubectl scale`, an HPA's sync), which is not written over. Before, the patch carried no
   * precondition: a count set between Scaleplane's decision and its write was overwritten, unseen.
   * Queued behind the writes of `spec.replicas` before it, a StatefulSet roll's too (its extra
   * replica, its give-back: see `#rollScaleWrite`), which it waits for (logged at info).
   */
  #scaleOver(n: number): Promise<{ replicas: number; was: number } | undefined> {
    if (this.#rollScaling !== undefined)
      this.#logger.info(
        { group: this.#options.group, replicas: n },
        `${this.#ref()}: the scale to ${n} waits for ${this.#rollScaling} to be written`,
      );
    return this.#queueScaleWrite(() => this.#scaleOverNow(n));
  }

  /**
   * queueScaleWrite runs `write`, a write of `spec.replicas`, after those queued before it: one at a
   * time, so that each decides from the count the one before wrote and the `#surge` it left (the
   * controller does not wait for a scale before the next: void #apply).
   */
  #queueScaleWrite<T>(write: () => Promise<T>): Promise<T> {
    const run = this.#scaleWrites.then(write);
    this.#scaleWrites = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /**
   * rollScaleWrite queues a StatefulSet roll's write of `spec.replicas` (its extra replica, its
   * give-back; `what`, for a scale that waits for it) with scaleTo's (see `#queueScaleWrite`), and
   * `write` moves `#surge` once the write landed: a scale decided meanwhile computes from the
   * count on the API server, and a write that failed leaves `#surge` as it was. Before, `#surge`
   * was 1 before the extra replica was written: a scale read the count without it, took it for
   * another client's and was refused (BUSY); and 0 before the give-back was.
   */
  async #rollScaleWrite<T>(what: string, write: () => Promise<T>): Promise<T> {
    this.#rollScaling = what;
    try {
      return await this.#queueScaleWrite(write);
    } finally {
      if (this.#rollScaling === what) this.#rollScaling = undefined;
    }
  }

  async #scaleOverNow(n: number): Promise<{ replicas: number; was: number } | undefined> {
    const theirs = await this.#writeScaleAtRead((current) =>
      // Decided at each read: a StatefulSet resize's extra replica (#surge) may come between.
      current === this.#desired + this.#surge
        ? { replicas: n + this.#surge, out: undefined }
        : { out: { replicas: current, was: this.#desired } },
    );
    if (theirs === undefined) this.#desired = n;
    return theirs;
  }

  /**
   * writeScaleAtRead makes one write of `spec.replicas` at the resourceVersion read, as client-go's
   * RetryOnConflict around a read and an update of the scale: it reads the scale, `decide` picks the
   * count to write from the `spec.replicas` read (none: nothing is written), and it is
   * merge-patched with the scale's resourceVersion as a precondition (the API server answers 409
   * Conflict if the object changed since); a 409 reads again and decides again (most often only the
   * status changed: the same decision), at most SCALE_WRITE_ATTEMPTS times, then the 409 is thrown.
   * Returns the decision's outcome. Shared by the scale (`#scaleOver`) and a StatefulSet roll's
   * extra replica (`#surgeAtRead`, `#giveBack`).
   */
  async #writeScaleAtRead<T>(decide: (replicas: number) => ScaleWrite<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const scale = await this.#readScale();
      const { replicas, out } = decide(scale.spec?.replicas ?? 0);
      if (replicas === undefined) return out;
      try {
        await this.#patchScale(replicas, scale.metadata?.resourceVersion);
        return out;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt >= SCALE_WRITE_ATTEMPTS) throw err;
        this.#logger.info(
          { group: this.#options.group, attempt },
          `${this.#ref()}: scale changed since it was read (409 Conflict); reading it again`,
        );
      }
    }
  }

  async #patchScale(replicas: number, resourceVersion?: string) {
    const params = {
      name: this.#config.name,
      namespace: this.#config.namespace,
      body: {
        ...(resourceVersion !== undefined && { metadata: { resourceVersion } }),
        spec: { replicas },
      },
    };
    const options = this.#k8s!.setHeaderOptions('Content-Type', this.#k8s!.PatchStrategy.MergePatch);
    return this.#config.kind === 'StatefulSet'
      ? this.#apps().patchNamespacedStatefulSetScale(params, options)
      : this.#apps().patchNamespacedDeploymentScale(params, options);
  }

  /**
   * refuseOtherHpa fails the start (INVALID_ARGUMENT, naming it) when an HPA other than ours (in
   * `mode: hpa`, the one named as the workload) targets the workload: its writes to `spec.replicas`
   * and Scaleplane's (or our HPA's) would undo each other every sync. Before, both ran and the
   * replicas flapped between their counts, each scale "set by another client". A list that RBAC does
   * not grant (or an API server without autoscaling/v2) is warned about, and the start goes on.
   */
  async #refuseOtherHpa(): Promise<void> {
    const other = await this.#otherHpa().catch((err: unknown) => {
      this.#logger.warn(
        { group: this.#options.group, err },
        `${this.#ref()}: cannot check for an HPA that also scales it (list horizontalpodautoscalers: ${this.#errorText(err)}); grant list on horizontalpodautoscalers to have it checked`,
      );
      return undefined;
    });
    if (other !== undefined) throw new ProviderError('INVALID_ARGUMENT', this.#hpaConflict(other));
  }

  /**
   * nameLateHpa looks, after another client set the replicas, for an HPA created since the start
   * that targets the workload (a Helm chart's `autoscaling.enabled`), and logs it as an error once:
   * the two then undo each other's scale every sync, and "set by another client" alone left the
   * user to find the culprit. At most one list a minute; a list that fails is left to the start's
   * warning.
   */
  #nameLateHpa(): void {
    const now = performance.now();
    if (now - this.#hpaCheckedAt < 60_000) return;
    this.#hpaCheckedAt = now;
    this.#otherHpa().then(
      (other) => {
        if (other === undefined || this.#closed || this.#hpasNamed.has(other)) return;
        this.#hpasNamed.add(other);
        this.#logger.error(
          { group: this.#options.group, reason: 'OtherAutoscaler', hpa: other },
          `${this.#hpaConflict(other)} (it was created after Scaleplane started)`,
        );
      },
      () => {},
    );
  }

  /** otherHpa is the name of an HPA other than ours that targets the workload, if any (rejects when the list fails). */
  async #otherHpa(): Promise<string | undefined> {
    const namespace = this.#config.namespace;
    type Listed = {
      metadata?: { name?: string };
      spec?: { scaleTargetRef?: { kind?: string; name?: string } };
    };
    // autoscaling/v1 lists every HPA too (its scaleTargetRef alike), and is served where v2 is not
    // (Kubernetes 1.22). Before, the 404 there was warned about as missing RBAC, and an HPA that
    // also scaled the workload went unnoticed.
    const items: Listed[] = await this.#api(this.#k8s!.AutoscalingV2Api)
      .listNamespacedHorizontalPodAutoscaler({ namespace })
      .then(
        (list) => list.items,
        (err: unknown) => {
          if ((err as { code?: unknown } | undefined)?.code !== 404) throw err;
          return this.#api(this.#k8s!.AutoscalingV1Api)
            .listNamespacedHorizontalPodAutoscaler({ namespace })
            .then((list) => list.items);
        },
      );
    const other = items.find(
      (h) =>
        h.spec?.scaleTargetRef?.kind === this.#config.kind &&
        h.spec.scaleTargetRef.name === this.#config.name &&
        !(this.autoscaled && h.metadata?.name === this.#config.name),
    );
    return other === undefined ? undefined : (other.metadata?.name ?? '');
  }

  /** hpaConflict says that HPA `name` also scales the workload, and what to do about it. */
  #hpaConflict(name: string): string {
    const which = `HorizontalPodAutoscaler ${this.#config.namespace}/${name}`;
    return this.autoscaled
      ? `${this.#ref()}: ${which} also scales it: two HPAs on one workload overwrite each other's replicas (recent Kubernetes stops both: AmbiguousSelector); delete it`
      : `${this.#ref()}: ${which} also scales it: it and Scaleplane would overwrite each other's replicas; delete that HPA, or set groups.${this.#options.group}.mode: hpa to have Kubernetes scale`;
  }

  async #writeHpa(): Promise<void> {
    const api = this.#api(this.#k8s!.AutoscalingV2Api);
    const namespace = this.#config.namespace;
    const name = this.#config.name;
    // Widened to hold the replicas found, as a reload's write is (see `setBounds`): the fit into
    // min/max_instances is the controller's drained scale, which closes them in after. Before, the
    // configured bounds were written here, and the HPA took replicas outside them inside undrained.
    const fields = this.#hpaFields([this.#desired]);
    const body = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'scaleplane' } },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: this.#config.kind, name },
        ...fields,
      },
    };
    // Read, then replace at the resourceVersion read: the HPA controller writes the HPA's status every
    // sync, so a replace may meet 409 Conflict (or a create 409 AlreadyExists, another controller's
    // create). Read again and retry, as client-go's RetryOnConflict does, a few times.
    let decided: HpaMetricsWrite = { metrics: fields.metrics, source: 'configured' };
    let behavior: HpaFieldWrite<HpaBehavior | undefined> = { value: fields.behavior, source: 'configured' };
    for (let attempt = 1; ; attempt++) {
      let existing:
        | { metadata?: { resourceVersion?: string }; spec?: { metrics?: unknown[]; behavior?: unknown } }
        | undefined;
      try {
        existing = await api.readNamespacedHorizontalPodAutoscaler({ name, namespace });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
      }
      // The start writes the configured metrics whatever the HPA holds (nothing says whether the
      // config or another client changed them since the last start); a difference is named below.
      decided = hpaMetricsToWrite(fields.metrics, undefined, existing?.spec?.metrics);
      if (existing)
        behavior = hpaFieldToWrite(
          fields.behavior,
          undefined,
          existing.spec?.behavior as HpaBehavior | undefined,
          sameHpaBehavior,
        );
      try {
        if (existing) {
          const metadata = { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion };
          await api.replaceNamespacedHorizontalPodAutoscaler({
            name,
            namespace,
            body: { ...body, metadata },
          });
        } else {
          await api.createNamespacedHorizontalPodAutoscaler({ namespace, body });
        }
        break;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt >= HPA_WRITE_ATTEMPTS) throw err;
        this.#logger.info(
          { group: this.#options.group, attempt },
          `HorizontalPodAutoscaler ${namespace}/${name} changed since it was read (409 Conflict); reading it again`,
        );
      }
    }
    this.#hpaWritten = JSON.stringify(fields);
    this.#logger.info({ group: this.#options.group }, `wrote HorizontalPodAutoscaler ${namespace}/${name}`);
    if (decided.replaced)
      this.#logger.warn(
        { group: this.#options.group, replaced: decided.replaced, reason: 'HpaMetricsReplaced' },
        `HorizontalPodAutoscaler ${namespace}/${name}: ${describeHpaMetrics(decided.replaced)} found at start, not groups.${this.#options.group}.scaling's ${describeHpaMetrics(fields.metrics)}; set back to ${describeHpaMetrics(fields.metrics)} (change groups.${this.#options.group}.scaling to keep another target)`,
      );
    if (behavior.source === 'replaced')
      this.#logger.warn(
        { group: this.#options.group, replaced: behavior.replaced, reason: 'HpaBehaviorReplaced' },
        `HorizontalPodAutoscaler ${namespace}/${name}: ${describeHpaBehavior(behavior.replaced)} found at start, not groups.${this.#options.group}.scaling's ${describeHpaBehavior(fields.behavior)}; set back to it (change groups.${this.#options.group}.scaling.behavior to keep another)`,
      );
  }

  /** hpaWrittenBehavior is the `spec.behavior` this process last wrote into the HPA (undefined before its first write). */
  #hpaWrittenBehavior(): { value: HpaBehavior | undefined } | undefined {
    return this.#hpaWritten === undefined
      ? undefined
      : { value: (JSON.parse(this.#hpaWritten) as { behavior?: HpaBehavior }).behavior };
  }

  /** hpaWrittenMetrics are the `spec.metrics` this process last wrote into the HPA (undefined before its first write). */
  #hpaWrittenMetrics(): unknown[] | undefined {
    return this.#hpaWritten === undefined
      ? undefined
      : (JSON.parse(this.#hpaWritten) as { metrics: unknown[] }).metrics;
  }

  /**
   * setBounds takes min/max_instances changed by a config reload into our HPA's
   * minReplicas/maxReplicas (`mode: hpa`), as `start` writes those it was built with. Widened to
   * hold the current replicas (`hpaBounds`): the HPA brings replicas outside its bounds inside at
   * its next sync, undrained, while the controller's own scale to fit them drains what it removes;
   * the bounds close in once that scale is made (see `scaleTo`). Before, they stayed as `start`
   * wrote them: max_instances raised from 5 to 8 left the HPA at maxReplicas 5, and the HPA scaled
   * a lowered max_instances' fitted count straight back up. Nothing in `mode: controller` (no HPA of
   * ours). Writes only while leading (after `start`, through the fence); a standby keeps them for
   * its `start`.
   */
  async setBounds(min: number, max: number): Promise<void> {
    this.#bounds = { min, max };
    await this.#rewriteHpa('set the bounds of');
  }

  /**
   * setAutoscaler takes a `scaling` section changed by a config reload into our HPA (`mode: hpa`):
   * its cpu target (`spec.metrics`) and `spec.behavior`, written with the bounds (see `setBounds`,
   * called just after: one write carries both). Before, the reload said `applied
   * groups.web.scaling` and the HPA kept the target and behavior written at start.
   */
  async setAutoscaler(spec: AutoscalerSpec): Promise<void> {
    this.#autoscaler = { ...spec };
    await this.#rewriteHpa('write the scaling of');
  }

  /**
   * rewriteHpa writes our HPA as the bounds and scaling now held say (`mode: hpa`, once started,
   * while leading); `what` names the write for the fence.
   */
  async #rewriteHpa(what: string): Promise<void> {
    if (!this.autoscaled || this.#started === undefined || this.#closed) return;
    await this.#started;
    try {
      await this.#options.fence?.(
        `${what} HorizontalPodAutoscaler ${this.#config.namespace}/${this.#config.name}`,
      );
    } catch {
      // Deposed: the HPA is the leader's to write; kept here for this one's next `start`.
      return;
    }
    await this.#alignHpaBounds();
  }

  /**
   * hpaFields is the HPA's spec as Scaleplane writes it, but for `scaleTargetRef`: the bounds
   * `hpaBounds` gives for the configured ones and `counts`, the cpu target, the behavior (absent
   * when none is configured: Kubernetes defaults it).
   */
  #hpaFields(counts: readonly number[]) {
    const bounds = hpaBounds(this.#bounds, counts);
    const behavior = hpaBehavior(this.#autoscaler.behavior);
    return {
      minReplicas: bounds.min,
      maxReplicas: bounds.max,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: this.#autoscaler.cpuTarget ?? 80 },
          },
        },
      ],
      ...(behavior && { behavior }),
    };
  }

  /**
   * alignHpaBounds gives our HPA the fields `hpaFields` says for the configured bounds and the
   * current replicas (and `next`, a count a scale is about to write) and the configured scaling,
   * when they differ from what it has. One at a time, each from the counts as they are when it runs.
   */
  #alignHpaBounds(next?: number): Promise<void> {
    if (!this.autoscaled || this.#closed) return Promise.resolve();
    const run = this.#aligning.then(async () => {
      const fields = this.#hpaFields(next === undefined ? [this.#desired] : [this.#desired, next]);
      if (JSON.stringify(fields) === this.#hpaWritten) return;
      const api = this.#api(this.#k8s!.AutoscalingV2Api);
      const { namespace, name } = this.#config;
      // The HPA as read, its two bounds changed, replaced at the resourceVersion read: what else it
      // holds (an operator's edit included) stays, and the RBAC `update` that `start` needs is enough
      // (no `patch`). A 409 (the HPA controller wrote its status in between) reads again. Metrics
      // and behavior another client set are kept unless `scaling` changed since our last write
      // (`hpaMetricsToWrite`, `hpaFieldToWrite`; behaviors compared as Kubernetes defaults them).
      const written = this.#hpaWrittenMetrics();
      const writtenBehavior = this.#hpaWrittenBehavior();
      let decided: HpaMetricsWrite = { metrics: fields.metrics, source: 'configured' };
      let behavior: HpaFieldWrite<HpaBehavior | undefined> = { value: fields.behavior, source: 'configured' };
      await this.#call('write HPA bounds', async () => {
        for (let attempt = 1; ; attempt++) {
          const hpa = await api.readNamespacedHorizontalPodAutoscaler({ name, namespace });
          const { behavior: stored, ...kept } = hpa.spec!;
          decided = hpaMetricsToWrite(fields.metrics, written, kept.metrics);
          behavior = hpaFieldToWrite(
            fields.behavior,
            writtenBehavior,
            stored as HpaBehavior | undefined,
            sameHpaBehavior,
          );
          const { behavior: _ours, ...bounds } = fields;
          hpa.spec = {
            ...kept,
            ...(bounds as Partial<typeof kept>),
            metrics: decided.metrics as typeof kept.metrics,
            ...(behavior.value && { behavior: behavior.value as typeof stored }),
          };
          try {
            return await api.replaceNamespacedHorizontalPodAutoscaler({ name, namespace, body: hpa });
          } catch (err) {
            if ((err as { code?: number }).code !== 409 || attempt >= HPA_WRITE_ATTEMPTS) throw err;
          }
        }
      });
      this.#hpaWritten = JSON.stringify(fields);
      const target = fields.metrics[0]!.resource.target.averageUtilization;
      const configured = describeHpaMetrics(fields.metrics);
      this.#logger.info(
        {
          group: this.#options.group,
          minReplicas: fields.minReplicas,
          maxReplicas: fields.maxReplicas,
          target,
          reason: 'BoundsAligned',
        },
        `HorizontalPodAutoscaler ${namespace}/${name}: minReplicas ${fields.minReplicas}, maxReplicas ${fields.maxReplicas}, ${describeHpaMetrics(decided.metrics)} (min_instances ${this.#bounds.min}, max_instances ${this.#bounds.max}, replicas ${this.#desired})`,
      );
      const group = `groups.${this.#options.group}.scaling`;
      // Once per value another client set: every write of the bounds that keeps it would say it again.
      const warned = this.#hpaKeptWarned;
      const metricsNew =
        decided.source === 'kept' && !(warned.metrics && sameJson(warned.metrics, decided.metrics));
      const behaviorNew =
        behavior.source === 'kept' &&
        !(warned.behavior && sameHpaBehavior(warned.behavior.value, behavior.value));
      this.#hpaKeptWarned = {
        ...(decided.source === 'kept' && { metrics: decided.metrics }),
        ...(behavior.source === 'kept' && { behavior: { value: behavior.value } }),
      };
      if (metricsNew)
        this.#logger.warn(
          { group: this.#options.group, kept: decided.metrics, reason: 'HpaMetricsChangedElsewhere' },
          `HorizontalPodAutoscaler ${namespace}/${name}: ${describeHpaMetrics(decided.metrics)}, set by another client (${group} says ${configured}); left as set`,
        );
      else if (decided.replaced)
        this.#logger.warn(
          { group: this.#options.group, replaced: decided.replaced, reason: 'HpaMetricsReplaced' },
          `HorizontalPodAutoscaler ${namespace}/${name}: ${describeHpaMetrics(decided.replaced)}, set by another client, replaced by ${configured} (${group} changed)`,
        );
      if (behaviorNew)
        this.#logger.warn(
          { group: this.#options.group, kept: behavior.value, reason: 'HpaBehaviorChangedElsewhere' },
          `HorizontalPodAutoscaler ${namespace}/${name}: ${describeHpaBehavior(behavior.value)}, set by another client (${group} says ${describeHpaBehavior(fields.behavior)}); left as set`,
        );
      else if (behavior.source === 'replaced')
        this.#logger.warn(
          { group: this.#options.group, replaced: behavior.replaced, reason: 'HpaBehaviorReplaced' },
          `HorizontalPodAutoscaler ${namespace}/${name}: ${describeHpaBehavior(behavior.replaced)}, set by another client, replaced by ${describeHpaBehavior(fields.behavior)} (${group} changed)`,
        );
    });
    this.#aligning = run.catch(() => {});
    return run;
  }

  /**
   * listAndWatch lists the pods, then watches from the list's resourceVersion (see `#watchPods`).
   * A watch that failed or expired (410 Gone) lists again; one that ended cleanly resumes.
   */
  async #listAndWatch(): Promise<boolean> {
    const core = this.#api(this.#k8s!.CoreV1Api);
    const list = await this.#call('list pods', () =>
      core.listNamespacedPod({ namespace: this.#config.namespace, labelSelector: this.#selector }),
    );
    this.#pods = new Map(list.items.map((pod) => [pod.metadata?.name ?? '', pod as PodLike]));
    this.#podsRv = list.metadata?.resourceVersion;
    this.#changed();
    return this.#watchPods();
  }

  /**
   * watchPods watches the pods from `#podsRv`, the resourceVersion of the list or of the last event
   * or bookmark seen, as client-go's reflector does: a watch the API server ended at its
   * timeoutSeconds is resumed where it stopped, and misses nothing (a resourceVersion too old for
   * the API server is answered 410 Gone, and a fresh list follows). Before, every end re-listed
   * every pod of the workload, every 5 minutes per group (a read from etcd), and the bookmarks
   * asked for were thrown away.
   */
  #watchPods(): Promise<boolean> {
    const path = `/api/v1/namespaces/${encodeURIComponent(this.#config.namespace)}/pods`;
    const params = {
      labelSelector: this.#selector,
      resourceVersion: this.#podsRv,
      allowWatchBookmarks: true,
    };
    return this.#openWatch(
      'pods',
      path,
      params,
      (phase, pod: PodLike & { metadata?: { resourceVersion?: string } }) => {
        const rv = pod?.metadata?.resourceVersion;
        if (rv) this.#podsRv = rv;
        if (phase === 'BOOKMARK') return;
        const name = pod?.metadata?.name;
        if (!name) return;
        if (phase === 'DELETED') this.#pods.delete(name);
        else this.#pods.set(name, pod);
        this.#changed();
        this.#scheduleReplicasRead();
      },
    );
  }

  /**
   * watchWorkload watches the Deployment or StatefulSet itself (`fieldSelector=metadata.name=…`, from
   * now: the first event is its current state), as a controller does: a `kubectl scale`, an HPA's
   * change or the leader's scale seen from a standby shows here at once, even when it changes no pod
   * (a ResourceQuota that refuses the new pods, a StatefulSet held by a pod that is not Ready). An
   * event whose `spec.replicas` is not what this process holds sends a read of the scale subresource,
   * which `#followReplicas` judges against writes of ours in flight.
   */
  async #watchWorkload(): Promise<boolean> {
    const plural = this.#config.kind === 'StatefulSet' ? 'statefulsets' : 'deployments';
    const path = `/apis/apps/v1/namespaces/${encodeURIComponent(this.#config.namespace)}/${plural}`;
    return this.#openWatch(
      'workload',
      path,
      { fieldSelector: `metadata.name=${this.#config.name}` },
      (phase, workload: { spec?: { replicas?: number } }) => {
        if (phase === 'BOOKMARK') return;
        const replicas = workload?.spec?.replicas;
        if (typeof replicas !== 'number') return;
        this.#watchedReplicas = { replicas };
        if (replicas !== this.#desired + this.#surge) this.#scheduleReplicasRead();
        for (const check of [...this.#checks]) check();
      },
    );
  }

  /**
   * openWatch opens watch `name` and hands its ADDED/MODIFIED/DELETED events to `onEvent`. When it
   * ends, `#rewatch` opens it again; one that connected resets its failure count. Says whether it
   * connected.
   */
  async #openWatch(
    name: WatchName,
    path: string,
    params: Record<string, string | boolean | undefined>,
    // biome-ignore lint/suspicious/noExplicitAny: watch events carry free-form Kubernetes objects
    onEvent: (phase: string, object: any) => void,
  ): Promise<boolean> {
    if (this.#closed) return false;
    let ended = false;
    /** Given up on: it did not answer within requestTimeout. */
    let abandoned = false;
    /** Still open past its timeoutSeconds: the connection under it stalled, and it was aborted. */
    let stalled = false;
    let watchdog: NodeJS.Timeout | undefined;
    let status: WatchStatus | undefined;
    const watch = new this.#k8s!.Watch(this.#kc!);
    const watchTimeoutMs = this.#options.watchTimeout ?? 300_000;
    const timeoutMs = this.#options.requestTimeout ?? 30_000;
    // The client calls `done` before watch() returns when the request fails: `controller` is unset then.
    let controller: AbortController | undefined;
    const opening = watch.watch(
      path,
      { ...params, timeoutSeconds: String(Math.ceil(watchTimeoutMs / 1000)) },
      (phase, object) => {
        if (abandoned) return;
        // The API server ends a watch after an ERROR event (410 Gone: too old a resourceVersion).
        // A BOOKMARK carries only a resourceVersion, for a watch to resume from (see `#watchPods`).
        if (phase === 'ERROR') status = object as WatchStatus;
        else onEvent(phase, object);
      },
      (err: unknown) => {
        if (abandoned) return;
        ended = true;
        clearTimeout(watchdog);
        this.#watchdogs.delete(watchdog!);
        if (controller !== undefined && this.#watches.get(name) === controller) this.#watches.delete(name);
        let failure = stalled
          ? `still open ${(watchTimeoutMs + timeoutMs) / 1000} s after it began, past its timeoutSeconds (a stalled connection)`
          : watchFailure(err, status);
        if ((err as { statusCode?: number } | null)?.statusCode === 403)
          failure = `${failure}: ${this.#watchGrant(name)}`;
        this.#rewatch(name, failure, err ?? status, status?.code === 410);
      },
    );
    // The client gives the watch's request no timeout (its own 30 s signal is overwritten before the
    // fetch), and watch() resolves only with the response headers, which an API server sends at
    // once: one that accepted the connection and went silent held the watch's re-opening for good,
    // and the watch stopped without a word. Given up after requestTimeout, reported and tried again
    // as any failure; the request is aborted if it ever answers.
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      opening,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (answered === undefined) {
      abandoned = true;
      opening.then(
        (late) => late.abort(),
        () => {},
      );
      this.#rewatch(name, `no answer within ${timeoutMs / 1000} s (request timeout)`, undefined);
      return false;
    }
    controller = answered;
    // close() may have run while the watch was connecting: it could not abort this one.
    if (this.#closed) controller.abort();
    else if (!ended) {
      this.#watches.set(name, controller);
      this.#watchFailures[name] = 0;
      this.emit('operation', { operation: this.#watchOperation(name) });
      // The API server ends the watch at its timeoutSeconds. One still open requestTimeout later
      // lost its connection without a word (half-open: the server's end never arrived), and no event
      // would ever come through it again: aborted, reported and opened again, instead of a watch that
      // looks open and is silent for good.
      const open = controller;
      watchdog = setTimeout(() => {
        this.#watchdogs.delete(watchdog!);
        stalled = true;
        open.abort();
      }, watchTimeoutMs + timeoutMs);
      this.#watchdogs.add(watchdog);
    }
    return !ended;
  }

  /**
   * rewatch opens watch `name` again after it ended: the pods after a fresh list (the watch may have
   * ended with 410 Gone, or events were missed while it was down), then a read of the replicas (a
   * scale by another client may be among them). A failure — the watch's (`failure`) or the list's —
   * is reported, and the next attempt waits longer (`rewatchBackoff`), until one succeeds or the
   * provider closes: never a silent stop.
   */
  #rewatch(
    name: WatchName,
    failure: string | undefined,
    cause: unknown,
    expired = false,
    listFailed = false,
  ): void {
    if (this.#closed) return;
    const failures = failure === undefined ? 0 : ++this.#watchFailures[name];
    const wait = rewatchBackoff(this.#options.rewatchDelay ?? 1000, failures);
    const what = this.#watchOperation(name);
    if (failure !== undefined) {
      const error = new ProviderError(
        'API_ERROR',
        `${this.#ref()}: ${what} failed (${failure}); watching again in ${wait} ms (attempt ${failures + 1})`,
        { cause },
      );
      // A failed list was an operation of its own, reported by #call already.
      if (!listFailed) this.emit('operation', { operation: what, error });
      this.#report(error);
    } else if (expired)
      this.#logger.info(
        { group: this.#options.group },
        `${this.#ref()}: ${what} expired (410 Gone); listing again`,
      );
    const timer = setTimeout(async () => {
      this.#rewatchTimers.delete(timer);
      if (this.#closed) return;
      let connected: boolean;
      try {
        // A pods watch that ended cleanly resumes from the last resourceVersion seen; one that
        // failed or expired lists again.
        const resume = name === 'pods' && failure === undefined && !expired && this.#podsRv !== undefined;
        connected =
          name === 'pods'
            ? resume
              ? await this.#watchPods()
              : await this.#listAndWatch()
            : await this.#watchWorkload();
      } catch (err) {
        // A failed list: its ProviderError names the workload already, the reason is its cause's.
        const cause = err instanceof ProviderError && err.cause !== undefined ? err.cause : err;
        const listFailed = err instanceof ProviderError;
        this.#rewatch(
          name,
          // #errorText, not apiErrorText: a list that timed out says so, not "The user aborted a request."
          `${name === 'pods' ? 'list: ' : ''}${this.#errorText(cause)}`,
          err,
          false,
          listFailed,
        );
        return;
      }
      // A watch that failed again is retried already; a read now would fail the same way.
      if (connected) this.#scheduleReplicasRead();
    }, wait);
    this.#rewatchTimers.add(timer);
  }

  #changed(): void {
    this.emit('change');
    this.#settle();
    for (const check of [...this.#checks]) check();
  }

  /** until resolves once `predicate` holds (re-checked on every pod change and workload event); CLOSED or RESIZE_FAILED (`what`) otherwise. */
  #until(
    deadline: number,
    predicate: () => boolean,
    what = 'pods not at the new size within the timeout',
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.#checks.delete(check);
      };
      const check = () => {
        if (this.#closed) {
          finish();
          reject(new ProviderError('CLOSED', `group ${this.#options.group} is closed`));
        } else if (predicate()) {
          finish();
          resolve();
        }
      };
      const timer = setTimeout(
        () => {
          finish();
          reject(new ProviderError('RESIZE_FAILED', `${this.#ref()}: ${what}`));
        },
        Math.max(0, deadline - performance.now()),
      );
      this.#checks.add(check);
      check();
    });
  }

  #settle(): void {
    clearTimeout(this.#strandTimer);
    if (this.#waiters.length === 0) return;
    const instances = this.instances();
    const ready = instances.filter((i) => i.state === 'ready').length;
    // A pod terminating long past the end of its grace period is stranded (its node lost, a
    // finalizer): its controller counts it no more and replaced it, and it may stay for hours.
    // Before, every scale waited on it until its timeout and failed (ScaleFailed) with the count met.
    const now = Date.now();
    let strandsAt = Number.POSITIVE_INFINITY;
    const stranded: string[] = [];
    for (const i of instances) {
      if (i.state !== 'stopping') continue;
      if (this.#stranded(i, now)) stranded.push(i.id);
      else strandsAt = Math.min(strandsAt, this.#strandsAt(i.id));
    }
    if (ready !== this.#desired || instances.some((i) => i.state === 'starting')) return;
    if (Number.isFinite(strandsAt)) {
      // Waiting only on pods still in their grace period: looked at again when they would be stranded.
      this.#strandTimer = setTimeout(() => this.#settle(), strandsAt - now);
      this.#strandTimer.unref();
      return;
    }
    for (const id of stranded.filter((x) => !this.#strandedNamed.has(x))) {
      this.#strandedNamed.add(id);
      this.#logger.warn(
        { group: this.#options.group, instance: id, reason: 'PodStranded' },
        `${this.#ref()}: pod ${id} is still terminating ${Math.round((now - epochOf(this.#pods.get(id)?.metadata?.deletionTimestamp)) / 1000)} s past its grace period (its node lost, or a finalizer holds it); the scale does not wait for it`,
      );
    }
    // A superseded call resolves with the later one: its target no longer matters.
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  /** strandsAt is when pod `id`, terminating, counts as stranded: STRANDED_AFTER_MS past its deletionTimestamp. */
  #strandsAt(id: string): number {
    return epochOf(this.#pods.get(id)?.metadata?.deletionTimestamp) + STRANDED_AFTER_MS;
  }

  /** stranded says `instance` is a pod terminating long past its grace period (see `#settle`). */
  #stranded(instance: Instance, now: number): boolean {
    return instance.state === 'stopping' && this.#strandsAt(instance.id) <= now;
  }

  async #waitRollout(generation: number, deadline: number, superseded = () => false): Promise<void> {
    for (;;) {
      if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
      superseded();
      const epoch = this.#writes > 0 ? -1 : this.#writeEpoch;
      const w = await this.#call('read workload', () => this.#readWorkload());
      this.#followReplicas(w.spec?.replicas ?? 0, epoch);
      const status = (w.status ?? {}) as {
        observedGeneration?: number;
        replicas?: number;
        updatedReplicas?: number;
        availableReplicas?: number;
        readyReplicas?: number;
      };
      const want = w.spec?.replicas ?? 0;
      const done =
        (status.observedGeneration ?? 0) >= generation &&
        (status.updatedReplicas ?? 0) === want &&
        (status.replicas ?? 0) === want &&
        (status.readyReplicas ?? 0) === want;
      if (done) return;
      // Deadlines are on the monotonic clock: on Date.now, a step of the system clock forward failed
      // a rollout under way at once (and reverted the resize), a step back held it for the step.
      if (performance.now() > deadline)
        throw new ProviderError('RESIZE_FAILED', `${this.#ref()}: rollout not complete within the timeout`);
      await delay(this.#options.rolloutPoll ?? 1000);
    }
  }

  /**
   * rollWrite is one write of a StatefulSet's roll: refused (CLOSED) once this provider closed,
   * asked of the fence (see `fence`), then made. A closed provider's roll used to make its next
   * write anyway (the extra replica of a resize closed right after its first PATCH).
   */
  async #rollWrite<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const closed = () => new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
    if (this.#closed) throw closed();
    await this.#options.fence?.(`${what} (resize roll)`);
    if (this.#closed) throw closed();
    return this.#call(what, fn);
  }

  /** call runs one API call; a failure is API_ERROR naming the workload, the call and the server's reason. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const out = await callEngine(this.#ref(), what, async () => {
        for (let retries = 0; ; retries++) {
          try {
            return await fn();
          } catch (err) {
            if (err instanceof ProviderError) throw err;
            // Refused unprocessed with a Retry-After (API Priority and Fairness under load): sent
            // again then, as client-go does. Before, the scale (or list) failed at once, alerted
            // after three, where kubectl would have waited a second and gone through.
            const wait = retryAfterMs(err);
            if (wait !== undefined && retries < RETRY_AFTER_RETRIES && !this.#closed) {
              const ms = Math.min(wait, MAX_RETRY_AFTER_MS);
              this.#logger.info(
                { group: this.#options.group, operation: what, retry: retries + 1 },
                `${this.#ref()}: ${what}: ${this.#errorText(err)}; sending it again in ${ms} ms (Retry-After)`,
              );
              await delay(ms);
              continue;
            }
            const tried =
              wait !== undefined && retries > 0 ? ` (sent ${retries + 1} times, as Retry-After asked)` : '';
            throw new ProviderError(
              'API_ERROR',
              `${this.#ref()}: ${what} failed: ${this.#errorText(err)}${tried}`,
              {
                cause: err,
              },
            );
          }
        }
      });
      this.emit('operation', { operation: what });
      return out;
    } catch (err) {
      this.emit('operation', { operation: what, error: err as Error });
      throw err;
    }
  }

  /** errorText is one line for a failed request: the API server's reason, or the request timeout. */
  #errorText(err: unknown): string {
    if ((err as Error | undefined)?.name === 'AbortError')
      return `no answer within ${(this.#options.requestTimeout ?? 30_000) / 1000} s (request timeout)`;
    return apiErrorText(err);
  }

  /**
   * watchGrant says what RBAC must grant for watch `name`, refused 403: the client library keeps
   * only "Forbidden" of a watch's refusal (not the API server's message, which names the verb and
   * resource), so a Role written before the workload watch was added (get and patch on deployments,
   * no watch) read "Deployment watch failed (403 Forbidden)" every 30 s, naming nothing to grant.
   */
  #watchGrant(name: WatchName): string {
    const [resource, group] =
      name === 'pods'
        ? ['pods', '""']
        : [this.#config.kind === 'StatefulSet' ? 'statefulsets' : 'deployments', '"apps"'];
    return `RBAC does not let Scaleplane watch ${resource} in namespace ${this.#config.namespace}: grant verb watch on resource ${resource} in API group ${group} (see examples/kubernetes/rbac.yaml)`;
  }

  /** watchOperation names watch `name` as its errors and `operation` events do (`pods watch`, `Deployment watch`). */
  #watchOperation(name: WatchName): string {
    return `${name === 'pods' ? 'pods' : this.#config.kind} watch`;
  }

  #report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.#logger.error({ group: this.#options.group, err }, err.message);
  }
}

/** stopped says `err` ends a roll without undoing it: the provider closed, or the fence refused a write. */
function stopped(err: unknown): boolean {
  return err instanceof ProviderError && (err.code === 'CLOSED' || err.code === 'FENCED');
}

/** annotationOf is `ROLL_ANNOTATION`'s value on a StatefulSet as read. */
function annotationOf(workload: V1StatefulSet): string | undefined {
  return workload.metadata?.annotations?.[ROLL_ANNOTATION];
}

/**
 * changedPartition is the partition of a StatefulSet as read when it is not the one a roll of ours
 * left there (another client set it during the roll), else undefined. Ours, by the annotation as
 * read (`roll` without it): the replicas while it notes the resources before (every pod behind the
 * partition), 0 once they left it with the partition's lowering.
 */
function changedPartition(workload: V1StatefulSet, roll: RollState): number | undefined {
  const noted = rollState(annotationOf(workload)) ?? roll;
  const ours = noted.previous ? canaryOf(noted) : 0;
  const partition = workload.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  return partition === ours ? undefined : partition;
}

/** canaryOf is the partition a roll holds every pod behind while it notes `previous`. */
function canaryOf(roll: RollState): number {
  return roll.canary ?? roll.replicas;
}

/**
 * movedTo is `roll` once a scale of ours wrote `replicas` during it: the count, the partition
 * (while every pod is behind it) where it was, or down at the count when it is below it (the
 * extra ordinal at the partition again).
 */
function movedTo(roll: RollState, replicas: number): RollState {
  return { ...roll, replicas, ...(roll.previous && { canary: Math.min(canaryOf(roll), replicas) }) };
}

/**
 * preRoll says `pod` still runs the resources a roll's resize replaced (`previous`, where they
 * differ from those it `written`): a pod from before the roll. False without a pod, or a roll that
 * notes neither.
 */
function preRoll(pod: PodLike | undefined, roll: RollState): boolean {
  const { previous, written } = roll;
  if (!pod || !previous || !written) return false;
  let replaced = false;
  for (const [container, before] of Object.entries(previous)) {
    const now = pod.spec?.containers?.find((c) => c.name === container)?.resources;
    for (const [k, v] of Object.entries(written)) {
      for (const side of ['limits', 'requests'] as const) {
        if (before[side]?.[k] === v) continue;
        replaced = true;
        if (now?.[side]?.[k] !== before[side]?.[k]) return false;
      }
    }
  }
  return replaced;
}

/**
 * rebasedTo is `roll` on `replicas` another client set (see `#rebaseRoll`): the partition, while
 * every pod is behind it, moves with them.
 */
function rebasedTo(roll: RollState, replicas: number): RollState {
  const { canary: _canary, ...rest } = roll;
  return { ...rest, replicas };
}

/** rollState reads `ROLL_ANNOTATION`'s value; undefined when absent or not ours. */
function rollState(text: string | undefined): RollState | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<RollState>;
    if (!Number.isInteger(v.partition) || !Number.isInteger(v.replicas) || v.replicas! < 0) return undefined;
    const previous = v.previous !== undefined && isPrevious(v.previous) ? v.previous : undefined;
    const quantities = (w: unknown): w is Record<string, string> =>
      typeof w === 'object' && w !== null && Object.values(w).every((q) => typeof q === 'string');
    const written = previous && quantities(v.written) ? v.written : undefined;
    const canary = previous && Number.isInteger(v.canary) && v.canary! >= 0 ? v.canary : undefined;
    return {
      partition: v.partition!,
      replicas: v.replicas!,
      ...(previous && { previous }),
      ...(written && { written }),
      ...(canary !== undefined && { canary }),
    };
  } catch {
    return undefined;
  }
}

/** isPrevious says `v` has the shape of `RollState.previous`: containers' limits and requests, strings. */
function isPrevious(v: unknown): v is Record<string, ContainerResources> {
  const isMap = (m: unknown) =>
    m === undefined ||
    (typeof m === 'object' && m !== null && Object.values(m).every((q) => typeof q === 'string'));
  return (
    typeof v === 'object' &&
    v !== null &&
    Object.values(v).every(
      (r: unknown) =>
        typeof r === 'object' &&
        r !== null &&
        isMap((r as ContainerResources).limits) &&
        isMap((r as ContainerResources).requests),
    )
  );
}

/**
 * revertMap is the strategic merge patch value that makes a `limits` or `requests` map what it was
 * (`before`) after a resize of ours wrote cpu and memory into it: the map removed if it was not there,
 * else cpu and memory as they were (null: removed), other keys as they are.
 */
function revertMap(before: Record<string, string> | undefined): Record<string, string | null> | null {
  if (before === undefined) return null;
  return { ...before, cpu: before.cpu ?? null, memory: before.memory ?? null };
}

/** resourcesOf is container `container`'s resources in a workload's template. */
function resourcesOf(
  workload: { spec?: { template?: { spec?: { containers?: { name: string }[] } } } },
  container: string,
): ContainerResources | undefined {
  return (
    (workload.spec?.template?.spec?.containers ?? []).find((c) => c.name === container) as
      | { resources?: ContainerResources }
      | undefined
  )?.resources;
}

/**
 * templateSize is the size a pod created from a template whose container has `resources` gets, as
 * an instance's size is read (see `podInstance`: the limits); undefined when no cpu or memory limit is set.
 */
function templateSize(resources: ContainerResources | undefined): InstanceSize | undefined {
  const cpu = quantityCpu(resources?.limits?.cpu);
  const memory = quantityMemory(resources?.limits?.memory);
  if (cpu === undefined && memory === undefined) return undefined;
  return { ...(cpu !== undefined && { cpu }), ...(memory !== undefined && { memory }) };
}

/** copyResources is `resources`' limits and requests, copied (each absent if unset). */
function copyResources(resources: ContainerResources | undefined): ContainerResources {
  return {
    ...(resources?.limits && { limits: { ...resources.limits } }),
    ...(resources?.requests && { requests: { ...resources.requests } }),
  };
}

/**
 * rolledOut says a Deployment's template is in force: its controller saw this generation and every
 * pod runs it and is Ready (as `kubectl rollout status` waits for).
 */
function rolledOut(workload: {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: object;
}): boolean {
  const status = (workload.status ?? {}) as {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
  };
  const want = workload.spec?.replicas ?? 0;
  return (
    (status.observedGeneration ?? 0) >= (workload.metadata?.generation ?? 0) &&
    (status.updatedReplicas ?? 0) === want &&
    (status.replicas ?? 0) === want &&
    (status.readyReplicas ?? 0) === want
  );
}

/**
 * endRollPatch ends a Deployment roll of ours: the annotation removed and the user's `rollingUpdate`
 * written back (a value they had not set removed, so the API server defaults it again); a Recreate
 * Deployment's strategy was never changed.
 */
function endRollPatch(roll: DeploymentRoll): { metadata: object; spec: object } {
  const user = roll.rollingUpdate;
  return {
    metadata: { annotations: { [DEPLOYMENT_ROLL_ANNOTATION]: null } },
    spec: user
      ? {
          strategy: {
            type: 'RollingUpdate',
            rollingUpdate: { maxSurge: user.maxSurge ?? null, maxUnavailable: user.maxUnavailable ?? null },
          },
        }
      : {},
  };
}

/** deploymentRoll reads `DEPLOYMENT_ROLL_ANNOTATION`'s value; undefined when absent or not ours. */
function deploymentRoll(text: string | undefined): DeploymentRoll | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<DeploymentRoll>;
    const intOrString = (x: unknown) => x === undefined || typeof x === 'string' || Number.isInteger(x);
    if (typeof v.container !== 'string' || !isPrevious({ [v.container]: v.previous ?? {} })) return undefined;
    if (typeof v.written !== 'object' || v.written === null) return undefined;
    if (!Object.values(v.written).every((q) => typeof q === 'string')) return undefined;
    const r = v.rollingUpdate;
    if (
      r !== undefined &&
      (typeof r !== 'object' || r === null || !intOrString(r.maxSurge) || !intOrString(r.maxUnavailable))
    )
      return undefined;
    return {
      container: v.container,
      previous: v.previous ?? {},
      written: v.written,
      ...(r && { rollingUpdate: r }),
    };
  } catch {
    return undefined;
  }
}
