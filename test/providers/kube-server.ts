// A local server that speaks the Kubernetes JSON API for what the kubernetes provider uses, so the
// official client (@kubernetes/client-node) can be tested over real HTTP: apps/v1 Deployments and
// StatefulSets with the `scale` subresource, core/v1 pods list + watch (resourceVersion, 410 Gone),
// autoscaling/v2 HPAs (create, read, replace, list; `autoscalingV2 = false`: not served, as before
// 1.23) and their autoscaling/v1 list, and replacing one pod: the policy/v1 Eviction subresource (checked against
// PodDisruptionBudgets set with `setBudget`, 429 when none allows it) and DELETE of a pod, both with
// a uid precondition (409 on a mismatch); a PATCH of a workload or its scale whose body carries
// metadata.resourceVersion takes it as a precondition (409 Conflict once the object moved on). Paths, content types and bodies follow the API reference
// (https://kubernetes.io/docs/reference/kubernetes-api/); requests of other shapes get the status
// a real API server gives (404, 405, 415, 422). It also plays the controllers: pods follow
// spec.replicas (an evicted or deleted pod is recreated) and roll on a template change — a
// Deployment's ReplicaSets with maxSurge 1, maxUnavailable 0 (random pod names; on a scale-in
// not-Ready pods removed first, then the lowest controller.kubernetes.io/pod-deletion-cost, then the
// newest; a pod's annotations and labels can be merge-PATCHed), or with strategy Recreate every old pod removed before the new ones are created; a StatefulSet's OrderedReady pods `<name>-<ordinal>` (created in order, each once the
// ones before are Ready; removed highest ordinal first; rolled from the highest ordinal down by
// deleting a pod before its successor is created: no surge; a deleted pod comes back under its name;
// RollingUpdate's `partition` honoured: only ordinals at or above it are rolled, and a pod below it is
// created at the current revision, the newest template at status.currentRevision).
// `podsBecomeReady = false` plays pods that never pass their readiness probe, `unschedulable` pods
// no node fits (Pending, no IP). It also serves a watch
// of one workload (`fieldSelector=metadata.name=…`: its state, then every write), and plays failures:
// `podQuota` (a ResourceQuota: no pod created beyond it), `strandPod` (a pod on a lost node,
// terminating for good), `forbid` (403 as RBAC words it),
// `throttle` (429 with Retry-After, API Priority and Fairness), `hpaStatusWrites` (409 Conflict on an HPA replace at a resourceVersion that moved) and
// `disconnect()`/`reconnect()` (the network down: watches and requests reset). It serves the resource
// metrics API as metrics-server does (`metrics.k8s.io/v1beta1` PodMetrics of the Running pods, list
// by labelSelector and get, usage as `podUsage` says in metrics-server's units: CPU in nanocores
// `123456n`, memory in `Ki`), or, with `metricsApi = 'missing'`, not at all (404, no metrics-server),
// and `GET /version` as `version` says (1.30 unless a test plays an older server).

import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesProviderConfig } from '../../src/config/types.js';
import { KubernetesProvider, type KubernetesProviderOptions } from '../../src/providers/index.js';

/** WEB_DEPLOYMENT is the provider config of the Deployment shop/web the tests add to a KubeServer. */
export const WEB_DEPLOYMENT = {
  provider: 'kubernetes',
  namespace: 'shop',
  name: 'web',
  kind: 'Deployment',
  port: 8080,
  mode: 'controller',
} as const;

/**
 * webOnKube starts a KubeServer holding the Deployment shop/web at `replicas` (`arrange` changes it
 * further before any provider looks) and makes a KubernetesProvider for group web on it, not
 * started; both close after the test. `config` is merged into WEB_DEPLOYMENT, `options` into the
 * provider's (15 s timeout, 50 ms between watches).
 */
export async function webOnKube(
  t: TestContext,
  replicas: number,
  setup: {
    arrange?: (server: KubeServer) => void;
    config?: Partial<KubernetesProviderConfig>;
    options?: Partial<KubernetesProviderOptions>;
  } = {},
): Promise<{ server: KubeServer; provider: KubernetesProvider }> {
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  server.addWorkload('Deployment', 'shop', 'web', replicas);
  setup.arrange?.(server);
  const provider = new KubernetesProvider({
    group: 'web',
    config: { ...WEB_DEPLOYMENT, ...setup.config },
    minInstances: 1,
    maxInstances: 5,
    client: { kubeConfig: kubeConfig(server.url) },
    rewatchDelay: 50,
    timeout: 15_000,
    ...setup.options,
  });
  t.after(() => provider.close());
  return { server, provider };
}

/** kubeConfig points the official client at a KubeServer, as caller `token` (the server tells callers apart by it). */
export function kubeConfig(server: string, token = 'test-token'): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'scaleplane', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'scaleplane', namespace: 'shop' }],
    currentContext: 'fake',
  });
  return kc;
}

/** Recorded is one request the server saw. */
export interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
  /** The bearer token it came with: tells one client's requests from another's. */
  token?: string;
}

// biome-ignore lint/suspicious/noExplicitAny: free-form Kubernetes objects
type Json = Record<string, any>;

/** The label a ReplicaSet's pods carry their template's hash in; a StatefulSet's, its revision. */
const TEMPLATE_HASH = 'pod-template-hash';
/** The annotation a ReplicaSet ranks its pods by on a scale-in: the lowest cost goes first. */
const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
const REVISION_HASH = 'controller-revision-hash';

interface Workload {
  kind: 'Deployment' | 'StatefulSet';
  object: Json;
}

/** KubeServer is the fake API server; `url` goes into a kubeconfig's cluster.server. */
export class KubeServer {
  readonly requests: Recorded[] = [];
  /** When each of `requests` arrived (ms since the epoch), at the same index. */
  readonly arrivals: number[] = [];
  readonly workloads = new Map<string, Workload>();
  readonly pods = new Map<string, Json>();
  readonly hpas = new Map<string, Json>();
  /** Ready pods over time, sampled at every pod event (for "never fewer than" checks). */
  readonly readyHistory: number[] = [];
  /** PodDisruptionBudgets by `ns/app`: at least `minAvailable` Ready pods of the app after an eviction. */
  readonly budgets = new Map<string, { minAvailable: number }>();
  /**
   * How the Eviction subresource answers: `allowed` (as a real server), `missing` (404, a server
   * without it), `forbidden` (403, RBAC grants delete but not pods/eviction) or `conflict` (409, the
   * budget's status changed under a concurrent eviction) or `throttled` (429, API Priority and
   * Fairness: the API server's own limit, no budget involved).
   */
  eviction: 'allowed' | 'missing' | 'forbidden' | 'conflict' | 'throttled' = 'allowed';
  /**
   * False: new pods start (Running, with an IP) but never pass their readiness probe, Ready False
   * for good, as with a broken image or a probe that always fails. Pods already Ready stay so.
   */
  podsBecomeReady = true;

  /**
   * passReadinessProbes plays a fixed probe (or image): every running pod not Ready, left so by
   * `podsBecomeReady = false`, passes its readiness probe now and turns Ready, as the kubelet reports.
   */
  passReadinessProbes(): void {
    const at = new Date().toISOString();
    for (const pod of this.pods.values()) {
      if (pod.metadata.deletionTimestamp || pod.status?.phase !== 'Running' || isReady(pod)) continue;
      pod.status.conditions = [{ type: 'Ready', status: 'True', lastTransitionTime: at }];
      this.#emit('MODIFIED', pod);
    }
    this.#reconcile();
  }
  /**
   * Set: new pods are never scheduled (no node fits them, as the scheduler words it in the pod's
   * PodScheduled condition, e.g. "0/3 nodes are available: 3 Insufficient cpu."): they stay Pending,
   * without an IP, until a node is added (cluster-autoscaler) or they are deleted.
   */
  unschedulable: string | undefined;
  /**
   * How long a GET of a `scale` subresource takes to answer, with what was true when it arrived:
   * plays a read sent before another request's write and answered after it.
   */
  scaleReadLagMs = 0;
  /** GETs of a `scale` subresource answered so far. */
  scaleReadsAnswered = 0;
  /**
   * Most pods of one workload that may exist, as a ResourceQuota allows: beyond it the workload's
   * controller creates none (its create is refused), so a scale-up changes no pod.
   */
  podQuota = Number.POSITIVE_INFINITY;
  /**
   * Requests RBAC refuses: `forbid(method, path)` true answers 403 Forbidden, with the API server's
   * wording.
   */
  forbid: ((method: string, path: string) => boolean) | undefined;
  /**
   * How many of the next HPA replaces find the HPA written by its controller (a status update) since
   * the client read it: the stored resourceVersion moves first, so the replace gets 409 Conflict.
   */
  hpaStatusWrites = 0;
  /**
   * Which of a Deployment's Ready pods of equal deletion cost created in the same instant its
   * ReplicaSet removes first on a scale-in, which Kubernetes leaves open: by default the one whose
   * name sorts last (`newest-name`, as a client's oldest-first order would guess), or first.
   */
  scaleInTieBreak: 'newest-name' | 'oldest-name' = 'newest-name';
  /**
   * API Priority and Fairness rejecting requests: `throttle(method, path)` returning a number of
   * seconds answers 429 TooManyRequests with that `Retry-After` (and `details.retryAfterSeconds`),
   * as the API server words a request its priority level had no seat or queue room for. Nothing is
   * carried out.
   */
  throttle: ((method: string, path: string) => number | undefined) | undefined;
  /**
   * `served`: metrics.k8s.io/v1beta1 answers, as with metrics-server installed; `missing`: 404 for
   * it, as an API server without metrics-server (no APIService for the group) answers.
   */
  metricsApi: 'served' | 'missing' = 'served';
  /**
   * What `GET /version` answers (version.Info: `major`, `minor`, `gitVersion`), as every API server
   * serves it to any caller; undefined: 404. Not recorded in `requests`: each provider start reads
   * it once, and the tests count the requests of the workload's APIs.
   */
  /** false: autoscaling/v2 is not served (404), as before Kubernetes 1.23. */
  autoscalingV2 = true;
  version: { major: string; minor: string; gitVersion: string } | undefined = {
    major: '1',
    minor: '30',
    gitVersion: 'v1.30.4',
  };
  /**
   * Each Running pod's usage per container, as metrics-server reports it at its scrape (`cpu`:
   * cores `0.25`, millicores `250m` or nanocores `250000000n`; `memory`: `64Mi`, `65536Ki`, bytes);
   * undefined for any of its containers: the pod has no PodMetrics yet (metrics-server has not
   * scraped it). The containers are those that run: the app containers and the sidecars (init
   * containers with `restartPolicy: Always`), not plain init containers, which have ended.
   * Default: none.
   */
  podUsage: (pod: Json, container: string) => { cpu: string; memory: string } | undefined = () => undefined;
  /**
   * How long ago new pods seem to have been created, started (`status.startTime`) and become Ready
   * (the condition's `lastTransitionTime`), ms: a workload running for a while, whose pods are past
   * the HPA's CPU initialization period. Default 0: pods created and started now.
   */
  podAgeMs = 0;
  /**
   * When metrics-server took each PodMetrics' sample (`timestamp`) and over what span (`window`,
   * a Go duration), at a request at `now`. Default: sampled now, over `15s`.
   */
  podMetricsTime: (pod: Json, now: number) => { timestamp: number; window: string } = (_pod, now) => ({
    timestamp: now,
    window: '15s',
  });
  /** True: the network to the API server is down. Each request is recorded, then its connection reset. */
  down = false;
  /** True: requests are recorded and never answered, as by a paused API server or a half-open connection. */
  silent = false;
  /**
   * Requests held, after they were recorded and before they are carried out, until the promise
   * `hold(method, path)` returns resolves: an API server slow to store a write (etcd latency).
   */
  hold: ((method: string, path: string) => Promise<void> | undefined) | undefined;
  #held = new Set<ServerResponse>();
  url = '';
  #server: Server;
  #rv = 1;
  #events: { rv: number; type: string; object: Json }[] = [];
  #watchers = new Set<{ res: ServerResponse; ns: string; selector: Requirement[] }>();
  /** Watches of one Deployment or StatefulSet (`fieldSelector=metadata.name=…`). */
  #workloadWatchers = new Set<{ res: ServerResponse; kind: string; ns: string; name: string }>();
  #nextIp = 2;
  /** Pods added by `addPod`: owned by no workload. */
  #strays = new Set<string>();
  #timers = new Set<NodeJS.Timeout>();
  /** Each open watch's end at its timeoutSeconds. */
  #watchEnds = new Map<ServerResponse, NodeJS.Timeout>();
  /** How long a new pod takes to be Ready (ms); may be changed between steps of a test. */
  podReadyMs: number;
  /** Each StatefulSet's templates by revision (ControllerRevisions) and its current revision. */
  #revisions = new Map<Json, { current?: string; templates: Map<string, Json> }>();
  readonly #graceMs: number;
  readonly #podIp: (n: number) => string;

  /**
   * `podReadyMs`: how long a new pod takes to be Ready; `terminationGraceMs`: how long a deleted pod
   * terminates before it is gone; `podIp`: the IP of the n-th pod to become Ready (n from 2), for
   * tests that put a real server behind it (e.g. 127.0.0.n).
   */
  constructor(
    options: { podReadyMs?: number; terminationGraceMs?: number; podIp?: (n: number) => string } = {},
  ) {
    this.podReadyMs = options.podReadyMs ?? 60;
    this.#graceMs = options.terminationGraceMs ?? 30;
    this.#podIp = options.podIp ?? ((n) => `10.244.0.${n}`);
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#status(res, 500, 'InternalError', String(err)));
    });
  }

  /** start listens on 127.0.0.1:0. */
  async start(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** close ends watches, timers and the server. */
  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    for (const t of this.#watchEnds.values()) clearTimeout(t);
    for (const w of this.#watchers) w.res.end();
    for (const w of this.#workloadWatchers) w.res.end();
    for (const res of this.#held) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  /** addWorkload creates a Deployment or StatefulSet with `replicas` pods (ready at once). */
  addWorkload(
    kind: 'Deployment' | 'StatefulSet',
    ns: string,
    name: string,
    replicas: number,
    /** The container's `resources` (requests, limits) in the pod template. */
    resources?: Json,
    /** More of the template's pod spec (`initContainers`, pod-level `resources`, `overhead`). */
    podSpec?: Json,
  ): void {
    const labels = { app: name };
    const object = {
      apiVersion: 'apps/v1',
      kind,
      metadata: { name, namespace: ns, generation: 1, resourceVersion: String(this.#rv), uid: `uid-${name}` },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'app',
                image: 'example/app:1',
                ports: [{ containerPort: 8080 }],
                ...(resources && { resources }),
              },
            ],
            ...podSpec,
          },
        },
        ...(kind === 'Deployment' && {
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
        }),
        // The API server's defaults (SetDefaults_StatefulSet).
        ...(kind === 'StatefulSet' && {
          updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
        }),
      },
      status: {},
    };
    this.workloads.set(`${ns}/${name}`, { kind, object });
    this.#reconcile();
  }

  /**
   * disconnect plays a network failure: every open watch's connection is reset, and so is every
   * request until `reconnect()`.
   */
  disconnect(): void {
    this.down = true;
    for (const w of [...this.#watchers, ...this.#workloadWatchers]) w.res.socket?.destroy();
  }

  /** reconnect ends the network failure `disconnect` began. */
  reconnect(): void {
    this.down = false;
  }

  /**
   * stallWatches plays a connection gone half-open under every open watch: nothing more reaches the
   * client, not even the end of a watch whose timeoutSeconds ran out, and nothing says it is over.
   * New requests are served as usual.
   */
  stallWatches(): void {
    for (const w of [...this.#watchers, ...this.#workloadWatchers]) {
      clearTimeout(this.#watchEnds.get(w.res));
      this.#held.add(w.res);
    }
    this.#watchers.clear();
    this.#workloadWatchers.clear();
  }

  /**
   * watchTimeout ends a watch after its `timeoutSeconds`, as the API server does ("Timeout for the
   * list/watch call. This limits the duration of the call, regardless of any activity or
   * inactivity": the API reference's common query parameters).
   */
  #watchTimeout(res: ServerResponse, url: URL): void {
    const seconds = Number(url.searchParams.get('timeoutSeconds'));
    if (!(seconds > 0)) return;
    const end = setTimeout(() => res.end(), seconds * 1000);
    this.#watchEnds.set(res, end);
    res.once('close', () => {
      clearTimeout(end);
      this.#watchEnds.delete(res);
    });
  }

  /** dropEventsBefore compacts history, so a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.#events = [];
    // Objects of other kinds were written since: resourceVersions are etcd's, global to the cluster.
    // A watch resumed from the last one its client saw is then too old: 410 Gone.
    this.#rv += 2;
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    const contentType = req.headers['content-type']?.split(';')[0];
    let body: unknown;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return this.#status(res, 400, 'BadRequest', 'body is not JSON');
      }
    }
    const method = req.method ?? 'GET';
    if (url.pathname === '/version' && method === 'GET') {
      if (this.version === undefined)
        return this.#status(res, 404, 'NotFound', 'the server could not find the requested resource');
      return this.#json(res, 200, { ...this.version, platform: 'linux/amd64' });
    }
    this.arrivals.push(Date.now());
    this.requests.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType,
      body,
      ...(req.headers.authorization?.startsWith('Bearer ') && {
        token: req.headers.authorization.slice('Bearer '.length),
      }),
    });
    if (this.down) {
      req.socket.destroy();
      return;
    }
    if (this.silent) {
      this.#held.add(res);
      res.once('close', () => this.#held.delete(res));
      return;
    }
    const held = this.hold?.(method, url.pathname);
    if (held) await held;
    const retryAfter = this.throttle?.(method, url.pathname);
    if (retryAfter !== undefined) {
      res.setHeader('retry-after', String(retryAfter));
      return this.#status(res, 429, 'TooManyRequests', 'Too many requests, please try again later.', {
        retryAfterSeconds: retryAfter,
      });
    }
    if (this.forbid?.(method, url.pathname))
      return this.#status(
        res,
        403,
        'Forbidden',
        `${url.pathname.split('/').slice(-2).join('/')} is forbidden: User "system:serviceaccount:shop:scaleplane" cannot ${method.toLowerCase()} it`,
      );

    let m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|statefulsets)$/.exec(url.pathname);
    if (m && method === 'GET' && url.searchParams.get('watch') === 'true') {
      const name = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
      if (!name)
        return this.#status(
          res,
          400,
          'BadRequest',
          'this fake watches one workload: fieldSelector=metadata.name=…',
        );
      this.#watchTimeout(res, url);
      return this.#watchWorkload(res, m[2] === 'deployments' ? 'Deployment' : 'StatefulSet', m[1]!, name);
    }

    m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|statefulsets)\/([^/]+)(\/scale)?$/.exec(
      url.pathname,
    );
    if (m) {
      const [, ns, plural, name, scale] = m;
      const w = this.workloads.get(`${ns}/${name}`);
      const kind = plural === 'deployments' ? 'Deployment' : 'StatefulSet';
      if (!w || w.kind !== kind)
        return this.#status(res, 404, 'NotFound', `${plural}.apps "${name}" not found`);
      if (scale) return this.#scale(req, res, method, contentType, body, w);
      if (method === 'GET') return this.#json(res, 200, w.object);
      if (method === 'PATCH') {
        if (
          contentType !== 'application/strategic-merge-patch+json' &&
          contentType !== 'application/merge-patch+json'
        )
          return this.#status(
            res,
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
          );
        const patch = body as Json;
        // A resourceVersion in the body is a precondition, as on the scale (see #scale): the object
        // changed since the client read it, 409 Conflict and nothing written.
        const precondition = patch?.metadata?.resourceVersion;
        if (precondition !== undefined && precondition !== w.object.metadata.resourceVersion)
          return this.#status(
            res,
            409,
            'Conflict',
            `Operation cannot be fulfilled on ${plural}.apps "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          );
        const containers = patch?.spec?.template?.spec?.containers;
        if (
          containers !== undefined &&
          (!Array.isArray(containers) || containers.some((c: Json) => typeof c?.name !== 'string'))
        )
          return this.#status(res, 422, 'Invalid', 'spec.template.spec.containers[].name: Required value');
        const before = JSON.stringify(w.object.spec);
        // Merged into a copy: an invalid result leaves the stored object as it was.
        const merged = structuredClone(w.object);
        mergeWorkload(merged, patch, contentType === 'application/strategic-merge-patch+json');
        const strategy = merged.spec.updateStrategy;
        if (w.kind === 'StatefulSet' && strategy?.type === 'OnDelete' && strategy.rollingUpdate)
          return this.#status(
            res,
            422,
            'Invalid',
            `StatefulSet.apps "${w.object.metadata.name}" is invalid: spec.updateStrategy.rollingUpdate: Invalid value: only allowed for updateStrategy 'RollingUpdate'`,
          );
        // Defaulting, as the API server does on every write: a partition removed is 0.
        if (w.kind === 'StatefulSet' && strategy?.type !== 'OnDelete') {
          strategy.rollingUpdate ??= {};
          strategy.rollingUpdate.partition ??= 0;
        }
        // The object keeps its identity (the fake's revisions hang on it).
        for (const key of Object.keys(w.object)) delete w.object[key];
        Object.assign(w.object, merged);
        // Any change of spec moves metadata.generation.
        if (JSON.stringify(w.object.spec) !== before) w.object.metadata.generation++;
        this.#bump(w);
        return this.#json(res, 200, w.object);
      }
      return this.#status(res, 405, 'MethodNotAllowed', `${method} is not supported`);
    }

    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(\/eviction)?$/.exec(url.pathname);
    if (m) return this.#podItem(res, method, m[1]!, m[2]!, m[3] !== undefined, body as Json | undefined);

    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
    if (m) {
      if (method !== 'GET') return this.#status(res, 405, 'MethodNotAllowed', `${method} is not supported`);
      const ns = m[1]!;
      const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
      if (url.searchParams.get('watch') === 'true') {
        this.#watchTimeout(res, url);
        return this.#watch(res, ns, selector, url.searchParams.get('resourceVersion'));
      }
      const items = [...this.pods.values()].filter(
        (p) => p.metadata.namespace === ns && matches(p, selector),
      );
      return this.#json(res, 200, {
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: String(this.#rv) },
        items,
      });
    }

    m = /^\/apis\/metrics\.k8s\.io\/v1beta1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(url.pathname);
    if (m && this.metricsApi === 'served') {
      if (method !== 'GET') return this.#status(res, 405, 'MethodNotAllowed', `${method} is not supported`);
      return this.#podMetrics(res, m[1]!, m[2], parseSelector(url.searchParams.get('labelSelector') ?? ''));
    }

    // autoscaling/v1 (every version): the list, as HPAs of any version read through it.
    m = /^\/apis\/autoscaling\/v1\/namespaces\/([^/]+)\/horizontalpodautoscalers$/.exec(url.pathname);
    if (m && method === 'GET')
      return this.#json(res, 200, {
        apiVersion: 'autoscaling/v1',
        kind: 'HorizontalPodAutoscalerList',
        metadata: { resourceVersion: String(this.#rv) },
        items: [...this.hpas.values()]
          .filter((h) => h.metadata.namespace === m![1])
          .map((h) => ({
            apiVersion: 'autoscaling/v1',
            kind: 'HorizontalPodAutoscaler',
            metadata: h.metadata,
            spec: {
              scaleTargetRef: h.spec?.scaleTargetRef,
              minReplicas: h.spec?.minReplicas,
              maxReplicas: h.spec?.maxReplicas,
            },
          })),
      });
    m = /^\/apis\/autoscaling\/v2\/namespaces\/([^/]+)\/horizontalpodautoscalers(?:\/([^/]+))?$/.exec(
      url.pathname,
    );
    if (m && this.autoscalingV2) {
      const [, ns, name] = m;
      const key = `${ns}/${name}`;
      if (method === 'GET' && name) {
        const hpa = this.hpas.get(key);
        return hpa
          ? this.#json(res, 200, hpa)
          : this.#status(res, 404, 'NotFound', `horizontalpodautoscalers.autoscaling "${name}" not found`);
      }
      if (method === 'GET' && !name)
        return this.#json(res, 200, {
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscalerList',
          metadata: { resourceVersion: String(this.#rv) },
          items: [...this.hpas.values()].filter((h) => h.metadata.namespace === ns),
        });
      const hpa = body as Json;
      const invalid = validateHpa(hpa);
      if ((method === 'POST' && !name) || (method === 'PUT' && name)) {
        if (invalid) return this.#status(res, 422, 'Invalid', invalid);
        const k = `${ns}/${hpa.metadata.name}`;
        if (method === 'POST' && this.hpas.has(k))
          return this.#status(res, 409, 'AlreadyExists', 'already exists');
        if (method === 'PUT' && !this.hpas.has(k)) return this.#status(res, 404, 'NotFound', 'not found');
        if (method === 'PUT' && this.hpaStatusWrites > 0) {
          this.hpaStatusWrites--;
          this.hpas.get(k)!.metadata.resourceVersion = String(++this.#rv);
        }
        const rv = hpa.metadata.resourceVersion;
        if (method === 'PUT' && rv !== undefined && rv !== this.hpas.get(k)!.metadata.resourceVersion)
          return this.#status(
            res,
            409,
            'Conflict',
            `Operation cannot be fulfilled on horizontalpodautoscalers.autoscaling "${hpa.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
          );
        const stored = {
          ...hpa,
          metadata: { ...hpa.metadata, namespace: ns, resourceVersion: String(++this.#rv) },
        };
        this.hpas.set(k, stored);
        return this.#json(res, method === 'POST' ? 201 : 200, stored);
      }
      return this.#status(res, 405, 'MethodNotAllowed', `${method} is not supported`);
    }
    return this.#status(res, 404, 'NotFound', `the server could not find the requested resource`);
  }

  /**
   * podMetrics answers as metrics-server does: a PodMetricsList of the namespace's Running pods it
   * has a scrape of (by labelSelector), or one PodMetrics (404 when it has none for the pod).
   */
  #podMetrics(res: ServerResponse, ns: string, name: string | undefined, selector: Requirement[]): void {
    const items = [...this.pods.values()]
      .filter((p) => p.metadata.namespace === ns && p.status?.phase === 'Running' && matches(p, selector))
      .filter((p) => name === undefined || p.metadata.name === name)
      .flatMap((p) => {
        const { timestamp, window } = this.podMetricsTime(p, Date.now());
        const running = [
          ...(p.spec.containers as Json[]),
          ...((p.spec.initContainers ?? []) as Json[]).filter((c) => c.restartPolicy === 'Always'),
        ];
        const usages = running.map((c) => ({ name: c.name as string, usage: this.podUsage(p, c.name) }));
        if (usages.some((c) => c.usage === undefined)) return [];
        return [
          {
            metadata: {
              name: p.metadata.name,
              namespace: ns,
              labels: p.metadata.labels,
              creationTimestamp: new Date().toISOString(),
            },
            timestamp: new Date(timestamp).toISOString(),
            window,
            containers: usages,
          },
        ];
      });
    if (name === undefined) {
      this.#json(res, 200, {
        apiVersion: 'metrics.k8s.io/v1beta1',
        kind: 'PodMetricsList',
        metadata: {},
        items,
      });
    } else if (items[0]) {
      this.#json(res, 200, { apiVersion: 'metrics.k8s.io/v1beta1', kind: 'PodMetrics', ...items[0] });
    } else {
      this.#status(res, 404, 'NotFound', `podmetrics.metrics.k8s.io "${name}" not found`);
    }
  }

  /** podItem serves GET and DELETE of one pod and POST of its `eviction` subresource. */
  #podItem(res: ServerResponse, method: string, ns: string, name: string, evict: boolean, body?: Json) {
    const pod = this.pods.get(name);
    const found = pod?.metadata.namespace === ns ? pod : undefined;
    if (evict) {
      if (this.eviction === 'missing')
        return this.#status(res, 404, 'NotFound', 'the server could not find the requested resource');
      if (this.eviction === 'forbidden')
        return this.#status(
          res,
          403,
          'Forbidden',
          `pods "${name}" is forbidden: User "scaleplane" cannot create resource "pods/eviction" in API group "" in the namespace "${ns}"`,
        );
      if (this.eviction === 'conflict')
        return this.#status(
          res,
          409,
          'Conflict',
          'Operation cannot be fulfilled on poddisruptionbudgets.policy "web": the object has been modified; please apply your changes to the latest version and try again',
        );
      if (this.eviction === 'throttled') {
        res.setHeader('retry-after', '1');
        return this.#status(res, 429, 'TooManyRequests', 'Too many requests, please try again later.');
      }
      if (method !== 'POST') return this.#status(res, 405, 'MethodNotAllowed', `${method} is not supported`);
      if (body?.apiVersion !== 'policy/v1' || body?.kind !== 'Eviction')
        return this.#status(res, 400, 'BadRequest', 'the body must be a policy/v1 Eviction');
      if (body?.metadata?.name !== name)
        return this.#status(res, 400, 'BadRequest', `name in URL does not match name in Eviction object`);
    } else if (method === 'GET') {
      return found
        ? this.#json(res, 200, found)
        : this.#status(res, 404, 'NotFound', `pods "${name}" not found`);
    } else if (method === 'PATCH') {
      return this.#patchPod(res, found, name, body);
    } else if (method !== 'DELETE') {
      return this.#status(res, 405, 'MethodNotAllowed', `${method} is not supported`);
    }
    if (!found) return this.#status(res, 404, 'NotFound', `pods "${name}" not found`);
    const uid = (evict ? body?.deleteOptions : body)?.preconditions?.uid;
    if (uid !== undefined && uid !== found.metadata.uid)
      return this.#status(
        res,
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${found.metadata.uid}`,
      );
    if (evict && !found.metadata.deletionTimestamp) {
      // The disruption controller's rule: evicting a Ready pod must leave minAvailable Ready pods.
      // Otherwise 429, as "API-initiated Eviction" documents it: "the eviction is not currently
      // allowed because of the configured PodDisruptionBudget. You may be able to attempt the
      // eviction again later" (https://kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/).
      const app = found.metadata.labels?.app;
      const budget = this.budgets.get(`${ns}/${app}`);
      const ready = [...this.pods.values()].filter(
        (p) => p.metadata.namespace === ns && p.metadata.labels?.app === app && isReady(p),
      ).length;
      if (budget && ready - (isReady(found) ? 1 : 0) < budget.minAvailable)
        // As the eviction REST handler words it (createTooManyRequestsError plus the budget's cause).
        return this.#status(
          res,
          429,
          'TooManyRequests',
          "Cannot evict pod as it would violate the pod's disruption budget.",
          {
            causes: [
              {
                reason: 'DisruptionBudget',
                message: `The disruption budget ${app} needs ${budget.minAvailable} healthy pods and has ${ready} currently`,
              },
            ],
          },
        );
    }
    if (!found.metadata.deletionTimestamp) this.#deletePod(found);
    this.#reconcile();
    return evict
      ? this.#json(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 })
      : this.#json(res, 200, found);
  }

  /**
   * patchPod serves a merge (or strategic merge) PATCH of a pod's `metadata.annotations` and
   * `metadata.labels`, a null value removing the key, as `kubectl annotate` sends it. Other fields
   * of a pod are not patched in this fake (422).
   */
  #patchPod(res: ServerResponse, found: Json | undefined, name: string, body: Json | undefined) {
    if (!found) return this.#status(res, 404, 'NotFound', `pods "${name}" not found`);
    const { annotations, labels, ...metadataRest } = body?.metadata ?? {};
    const { metadata: _m, ...rest } = body ?? {};
    if (Object.keys(rest).length > 0 || Object.keys(metadataRest).length > 0)
      return this.#status(res, 422, 'Invalid', 'this fake patches only metadata.annotations and labels');
    for (const [field, patch] of [
      ['annotations', annotations],
      ['labels', labels],
    ] as const) {
      if (patch === undefined) continue;
      const target: Json = { ...(found.metadata[field] ?? {}) };
      for (const [k, v] of Object.entries(patch as Json)) {
        if (v === null) delete target[k];
        else if (typeof v !== 'string')
          return this.#status(res, 422, 'Invalid', `metadata.${field}.${k}: must be a string`);
        else target[k] = v;
      }
      found.metadata[field] = target;
    }
    this.#emit('MODIFIED', found);
    return this.#json(res, 200, found);
  }

  /** setBudget adds a PodDisruptionBudget for the pods of workload `ns/name`. */
  setBudget(ns: string, name: string, minAvailable: number): void {
    this.budgets.set(`${ns}/${name}`, { minAvailable });
  }

  #scale(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    contentType: string | undefined,
    body: unknown,
    w: Workload,
  ) {
    void req;
    const view = () => ({
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: {
        name: w.object.metadata.name,
        namespace: w.object.metadata.namespace,
        resourceVersion: w.object.metadata.resourceVersion,
      },
      spec: { replicas: w.object.spec.replicas },
      status: { replicas: w.object.status.replicas ?? 0, selector: `app=${w.object.metadata.name}` },
    });
    if (method === 'GET') {
      const answer = view();
      const send = () => {
        this.scaleReadsAnswered++;
        this.#json(res, 200, answer);
      };
      if (this.scaleReadLagMs <= 0) return send();
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        send();
      }, this.scaleReadLagMs);
      this.#timers.add(timer);
      return;
    }
    if (method === 'PATCH' || method === 'PUT') {
      if (
        method === 'PATCH' &&
        contentType !== 'application/merge-patch+json' &&
        contentType !== 'application/strategic-merge-patch+json' &&
        contentType !== 'application/json-patch+json'
      )
        return this.#status(res, 415, 'UnsupportedMediaType', 'unsupported patch type');
      // A resourceVersion in the body is a precondition (optimistic concurrency), as the API server
      // takes it on an update or a patch: the object changed since, 409 Conflict and nothing written.
      const precondition = (body as Json)?.metadata?.resourceVersion;
      if (precondition !== undefined && precondition !== w.object.metadata.resourceVersion)
        return this.#status(
          res,
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${w.kind === 'Deployment' ? 'deployments' : 'statefulsets'}.apps "${w.object.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      const replicas = (body as Json)?.spec?.replicas;
      if (!Number.isInteger(replicas) || replicas < 0)
        return this.#status(
          res,
          422,
          'Invalid',
          'spec.replicas: Invalid value: must be greater than or equal to 0',
        );
      w.object.spec.replicas = replicas;
      this.#bump(w);
      return this.#json(res, 200, view());
    }
    return this.#status(res, 405, 'MethodNotAllowed', `${method} is not supported`);
  }

  #watch(res: ServerResponse, ns: string, selector: Requirement[], fromRv: string | null): void {
    const from = Number(fromRv ?? 0);
    const oldest = this.#events[0]?.rv ?? this.#rv;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // A real API server sends a watch's headers at once; Node holds them until the first write, and
    // the client resolves watch() only once the headers are in.
    res.flushHeaders();
    if (fromRv && from + 1 < oldest) {
      res.write(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: `too old resource version: ${from} (${oldest})` } })}\n`,
      );
      res.end();
      return;
    }
    const watcher = { res, ns, selector };
    for (const e of this.#events)
      if (e.rv > from && e.object.metadata.namespace === ns && matches(e.object, selector))
        res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    this.#watchers.add(watcher);
    res.on('close', () => this.#watchers.delete(watcher));
  }

  /**
   * watchWorkload watches one workload from now: an ADDED event with its current state first (a
   * watch without resourceVersion, as the API server serves one), then MODIFIED at every write.
   */
  #watchWorkload(res: ServerResponse, kind: string, ns: string, name: string): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w = this.workloads.get(`${ns}/${name}`);
    if (w?.kind === kind) res.write(`${JSON.stringify({ type: 'ADDED', object: w.object })}\n`);
    const watcher = { res, kind, ns, name };
    this.#workloadWatchers.add(watcher);
    res.on('close', () => this.#workloadWatchers.delete(watcher));
  }

  #emit(type: string, pod: Json): void {
    const rv = ++this.#rv;
    pod.metadata.resourceVersion = String(rv);
    const object = structuredClone(pod);
    this.#events.push({ rv, type, object });
    for (const w of this.#watchers)
      if (object.metadata.namespace === w.ns && matches(object, w.selector))
        w.res.write(`${JSON.stringify({ type, object })}\n`);
    this.readyHistory.push([...this.pods.values()].filter((p) => isReady(p)).length);
  }

  #bump(w: Workload): void {
    w.object.metadata.resourceVersion = String(++this.#rv);
    this.#reconcile();
    for (const watcher of this.#workloadWatchers)
      if (
        watcher.kind === w.kind &&
        watcher.ns === w.object.metadata.namespace &&
        watcher.name === w.object.metadata.name
      )
        watcher.res.write(`${JSON.stringify({ type: 'MODIFIED', object: w.object })}\n`);
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
      this.#reconcile();
    }, ms);
    this.#timers.add(t);
  }

  /** reconcile plays the Deployment/StatefulSet controllers: create, roll and delete pods. */
  #reconcile(): void {
    for (const w of this.workloads.values()) {
      const o = w.object;
      const hash = createHash('sha1')
        .update(JSON.stringify(o.spec.template, omitEmpty))
        .digest('hex')
        .slice(0, 10);
      if (w.kind === 'StatefulSet') this.#reconcileStatefulSet(o, hash);
      else this.#reconcileDeployment(o, hash);
    }
  }

  #podsOf(o: Json): Json[] {
    return [...this.pods.values()].filter(
      (p) =>
        p.metadata.labels?.app === o.metadata.name &&
        p.metadata.namespace === o.metadata.namespace &&
        !this.#strays.has(p.metadata.name),
    );
  }

  /**
   * addPod adds a Running, Ready pod with `labels` that no workload of the fake owns (its
   * controllers leave it alone): a canary's or a debug pod that shares some of a workload's labels.
   */
  addPod(ns: string, name: string, labels: Record<string, string>): void {
    const pod: Json = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        uid: randomUUID(),
        labels,
        creationTimestamp: new Date().toISOString(),
      },
      spec: { containers: [{ name: 'app', image: 'example/app:canary' }] },
      status: {
        phase: 'Running',
        podIP: this.#podIp(this.#nextIp++),
        startTime: new Date(Date.now() - this.podAgeMs).toISOString(),
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            lastTransitionTime: new Date(Date.now() - this.podAgeMs).toISOString(),
          },
        ],
      },
    };
    this.#strays.add(name);
    this.pods.set(name, pod);
    this.#emit('ADDED', pod);
  }

  #reconcileDeployment(o: Json, hash: string): void {
    const live = this.#podsOf(o).filter((p) => !p.metadata.deletionTimestamp);
    const current = live.filter((p) => p.metadata.labels[TEMPLATE_HASH] === hash);
    const old = live.filter((p) => p.metadata.labels[TEMPLATE_HASH] !== hash);
    const want = o.spec.replicas as number;
    const readyCount = live.filter(isReady).length;
    if (
      o.spec.strategy?.type === 'Recreate' &&
      this.#podsOf(o).some((p) => p.metadata.labels[TEMPLATE_HASH] !== hash)
    ) {
      // Recreate: every old pod is removed, and the new ones are created once all are gone.
      for (const p of old) this.#deletePod(p);
    } else if (old.length > 0) {
      // Rolling update, maxSurge 1 and maxUnavailable 0: one new pod at a time, and an old one goes
      // only when the ready ones still cover `want` without it.
      const starting = current.some((p) => !isReady(p));
      if (!starting && live.length < want + 1 && current.length < want)
        this.#createPod(o, hash, TEMPLATE_HASH);
      const victim =
        old.find((p) => !isReady(p)) ??
        (readyCount - 1 >= want || live.length > want + 1 ? old[0] : undefined);
      if (victim && (live.length > want || !isReady(victim))) this.#deletePod(victim);
    } else if (live.length < want) {
      for (let i = live.length; i < want; i++) this.#createPod(o, hash, TEMPLATE_HASH);
    } else if (live.length > want) {
      // Not-ready pods go first, then the lowest controller.kubernetes.io/pod-deletion-cost, then
      // the newest (a ReplicaSet's ranking, ActivePodsWithRanks). Pods created in the same instant
      // tie there, and Kubernetes leaves the order open (the co-location rank, the restarts): here
      // the name breaks the tie (`scaleInTieBreak`), by default so that the oldest by
      // (creationTimestamp, name) stays, as a client sees them.
      const cost = (p: Json) => Number(p.metadata.annotations?.[POD_DELETION_COST] ?? 0) || 0;
      const newest = [...live].sort(
        (a, b) =>
          cost(a) - cost(b) ||
          Date.parse(b.metadata.creationTimestamp) - Date.parse(a.metadata.creationTimestamp) ||
          (this.scaleInTieBreak === 'newest-name'
            ? b.metadata.name.localeCompare(a.metadata.name)
            : a.metadata.name.localeCompare(b.metadata.name)),
      );
      const order = [...newest.filter((p) => !isReady(p)), ...newest.filter(isReady)];
      for (const p of order.slice(0, live.length - want)) this.#deletePod(p);
    }
    const after = this.#podsOf(o).filter((p) => !p.metadata.deletionTimestamp);
    // A pod the quota refused: the ReplicaSet controller sets its ReplicaFailure condition (reason
    // FailedCreate, the create's error as message) and the Deployment controller copies it into the
    // Deployment's status.conditions (Kubernetes docs, "Deployments": "ReplicaFailure ... when one of
    // its pods fails to be created or deleted"; "Resource Quotas": the create is refused with 403
    // "exceeded quota"). A pod named by generateName is refused under its prefix.
    const refused = after.length < want && this.#podsOf(o).length >= this.podQuota;
    o.status = {
      observedGeneration: o.metadata.generation,
      replicas: after.length,
      updatedReplicas: after.filter((p) => p.metadata.labels[TEMPLATE_HASH] === hash).length,
      readyReplicas: after.filter(isReady).length,
      availableReplicas: after.filter(isReady).length,
      ...(refused && {
        conditions: [
          {
            type: 'ReplicaFailure',
            status: 'True',
            reason: 'FailedCreate',
            message: `pods "${o.metadata.name}-${hash.slice(0, 5)}-" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=${this.#podsOf(o).length}, limited: pods=${this.podQuota}`,
          },
        ],
      }),
    };
  }

  /**
   * The StatefulSet controller with podManagementPolicy OrderedReady and RollingUpdate (maxUnavailable
   * 1): one step at a time, none while a pod terminates. Each template is a revision; the update
   * revision is the current template's. `partition` as the StatefulSet docs ("Partitioned rolling
   * updates") have it: pods with an ordinal at or above it are updated, those below are not, "and,
   * even if they are deleted, they will be recreated at the previous version" (the current
   * revision's template); the current revision becomes the update revision once every pod runs it
   * and is Ready.
   */
  #reconcileStatefulSet(o: Json, revision: string): void {
    const want = o.spec.replicas as number;
    const name = o.metadata.name as string;
    const partition = (o.spec.updateStrategy?.rollingUpdate?.partition as number | undefined) ?? 0;
    const onDelete = o.spec.updateStrategy?.type === 'OnDelete';
    let revisions = this.#revisions.get(o);
    if (!revisions) {
      revisions = { templates: new Map() };
      this.#revisions.set(o, revisions);
    }
    revisions.templates.set(revision, structuredClone(o.spec.template));
    revisions.current ??= revision;
    const current = revisions.current;
    const mine = this.#podsOf(o);
    const ordinalOf = (p: Json) => Number(p.metadata.name.slice(name.length + 1));
    const byOrdinal = new Map(mine.map((p) => [ordinalOf(p), p]));
    const settled = !mine.some((p) => p.metadata.deletionTimestamp);
    if (settled) {
      let acted = false;
      // Scale up / recreate: the lowest missing ordinal, once every one before it is Ready; below the
      // partition at the current revision, else at the update revision.
      for (let i = 0; i < want && !acted; i++) {
        const p = byOrdinal.get(i);
        if (!p) {
          const at = i < partition && !onDelete ? current : revision;
          this.#createPod(o, at, REVISION_HASH, `${name}-${i}`, revisions.templates.get(at));
          acted = true;
        } else if (!isReady(p)) acted = true;
      }
      // Scale down: the highest ordinal first, once the others are Ready.
      const extra = [...byOrdinal.keys()].filter((i) => i >= want).sort((a, b) => b - a);
      if (!acted && extra.length > 0) {
        this.#deletePod(byOrdinal.get(extra[0]!)!);
        acted = true;
      }
      // Rolling update: the highest ordinal at or above the partition not at the update revision is
      // deleted; the scale-up step above creates it again at the new revision once it is gone.
      if (!acted && !onDelete) {
        const stale = [...byOrdinal.entries()]
          .filter(([i, p]) => i >= partition && p.metadata.labels[REVISION_HASH] !== revision)
          .sort((a, b) => b[0] - a[0])[0];
        if (stale) this.#deletePod(stale[1]);
      }
    }
    const after = this.#podsOf(o).filter((p) => !p.metadata.deletionTimestamp);
    const updated = after.filter((p) => p.metadata.labels[REVISION_HASH] === revision).length;
    const ready = after.filter(isReady).length;
    if (updated === after.length && ready === after.length && after.length === want)
      revisions.current = revision;
    o.status = {
      observedGeneration: o.metadata.generation,
      replicas: after.length,
      currentRevision: revisions.current,
      updateRevision: revision,
      currentReplicas: after.filter((p) => p.metadata.labels[REVISION_HASH] === revisions.current).length,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: ready,
    };
  }

  #createPod(
    o: Json,
    hash: string,
    label: string,
    name = `${o.metadata.name}-${hash.slice(0, 5)}-${Math.random().toString(36).slice(2, 7)}`,
    template: Json = o.spec.template,
  ): void {
    if (this.#podsOf(o).length >= this.podQuota) return;
    const pod: Json = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: o.metadata.namespace,
        uid: randomUUID(),
        labels: { ...template.metadata.labels, [label]: hash },
        creationTimestamp: new Date(Date.now() - this.podAgeMs).toISOString(),
      },
      spec: structuredClone(template.spec),
      status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] },
    };
    this.pods.set(name, pod);
    this.#emit('ADDED', pod);
    const unschedulable = this.unschedulable;
    this.#later(this.podReadyMs, () => {
      if (!this.pods.has(name) || pod.metadata.deletionTimestamp) return;
      if (unschedulable !== undefined) {
        pod.status = {
          phase: 'Pending',
          conditions: [
            { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: unschedulable },
          ],
        };
        this.#emit('MODIFIED', pod);
        return;
      }
      const ready = this.podsBecomeReady;
      const at = new Date(Date.now() - this.podAgeMs).toISOString();
      pod.status = {
        phase: 'Running',
        podIP: this.#podIp(this.#nextIp++),
        startTime: at,
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: at }],
      };
      this.#emit('MODIFIED', pod);
    });
  }

  /**
   * strandPod plays pod `name` on a node lost `lostMs` ago (or held by a finalizer): deleted then
   * (its deletionTimestamp, the end of its grace period, long past), Ready False, and never gone, as
   * no kubelet confirms its end. Its workload's controller counts it no more and creates another.
   */
  strandPod(name: string, lostMs: number): void {
    const pod = this.pods.get(name)!;
    pod.metadata.deletionTimestamp = new Date(Date.now() - lostMs).toISOString();
    pod.metadata.deletionGracePeriodSeconds = 30;
    pod.status.conditions = [{ type: 'Ready', status: 'False' }];
    this.#emit('MODIFIED', pod);
    this.#reconcile();
  }

  #deletePod(pod: Json): void {
    // The API server sets deletionTimestamp to the end of the grace period: when it is to be gone.
    pod.metadata.deletionTimestamp = new Date(Date.now() + this.#graceMs).toISOString();
    pod.metadata.deletionGracePeriodSeconds = Math.ceil(this.#graceMs / 1000);
    pod.status.conditions = [{ type: 'Ready', status: 'False' }];
    this.#emit('MODIFIED', pod);
    this.#later(this.#graceMs, () => {
      this.pods.delete(pod.metadata.name);
      this.#emit('DELETED', pod);
    });
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  #status(res: ServerResponse, code: number, reason: string, message: string, details?: Json): void {
    this.#json(res, code, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details && { details }),
      code,
    });
  }
}

function isReady(p: Json): boolean {
  return (
    !p.metadata.deletionTimestamp &&
    p.status?.conditions?.some((c: Json) => c.type === 'Ready' && c.status === 'True')
  );
}

/** One requirement of a label selector, as the API server parses `labelSelector` (labels.Parse). */
type Requirement =
  | { op: '=' | '!='; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | '!'; key: string };

/**
 * parseSelector parses a `labelSelector` query: equality (`a=b`, `a==b`, `a!=b`) and set-based
 * (`a in (x,y)`, `a notin (x,y)`, `a`, `!a`) requirements, comma-separated (commas inside
 * parentheses belong to the set). A Deployment's `matchExpressions` arrive in the set-based form.
 */
function parseSelector(text: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let part = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(part);
      part = '';
    } else part += ch;
  }
  parts.push(part);
  return parts
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x): Requirement => {
      let m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(x);
      if (m) return { op: m[2] as 'in' | 'notin', key: m[1]!, values: m[3]!.split(',').map((v) => v.trim()) };
      m = /^(\S+?)\s*(!=|==|=)\s*(\S*)$/.exec(x);
      if (m) return { op: m[2] === '!=' ? '!=' : '=', key: m[1]!, value: m[3]! };
      if (x.startsWith('!')) return { op: '!', key: x.slice(1).trim() };
      return { op: 'exists', key: x };
    });
}

function matches(p: Json, selector: Requirement[]): boolean {
  const labels: Record<string, string> = p.metadata.labels ?? {};
  return selector.every((r) => {
    const v = labels[r.key];
    switch (r.op) {
      case '=':
        return v === r.value;
      case '!=':
        return v !== r.value;
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
      case 'exists':
        return v !== undefined;
      default:
        return v === undefined;
    }
  });
}

/**
 * omitEmpty is a JSON.stringify replacer dropping empty maps: the API server serializes a template
 * from Go structs (`omitempty` maps, `resources` always present), so a template whose `limits` was
 * removed again is the same revision as one that never had it (a ControllerRevision is found equal).
 */
function omitEmpty(_key: string, value: unknown): unknown {
  return value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.keys(value).length === 0
    ? undefined
    : value;
}

/** mergeWorkload applies a merge patch; strategic merge merges `containers` by name, as the API does. */
function mergeWorkload(target: Json, patch: Json, strategic: boolean): void {
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === null) delete target[key];
    else if (strategic && key === 'containers' && Array.isArray(value) && Array.isArray(target[key])) {
      for (const c of value as Json[]) {
        const existing = (target[key] as Json[]).find((x) => x.name === c.name);
        if (existing) mergeWorkload(existing, c, strategic);
        else (target[key] as Json[]).push(c);
      }
    } else if (typeof value === 'object' && !Array.isArray(value)) {
      // A map not there yet is created: a null inside the patch still removes, never is stored.
      if (typeof target[key] !== 'object' || target[key] === null || Array.isArray(target[key]))
        target[key] = {};
      mergeWorkload(target[key], value as Json, strategic);
    } else target[key] = structuredClone(value);
  }
}

function validateHpa(hpa: Json | undefined): string | undefined {
  if (hpa?.apiVersion !== 'autoscaling/v2' || hpa?.kind !== 'HorizontalPodAutoscaler')
    return 'apiVersion/kind: must be autoscaling/v2 HorizontalPodAutoscaler';
  const spec = hpa.spec;
  if (!spec?.scaleTargetRef?.kind || !spec.scaleTargetRef.name) return 'spec.scaleTargetRef: Required value';
  if (!Number.isInteger(spec.maxReplicas) || spec.maxReplicas < 1) return 'spec.maxReplicas: must be >= 1';
  if (spec.minReplicas !== undefined && (spec.minReplicas < 1 || spec.minReplicas > spec.maxReplicas))
    return 'spec.minReplicas: Invalid value';
  for (const m of spec.metrics ?? []) {
    if (
      m.type === 'Resource' &&
      (!m.resource?.name || !['Utilization', 'AverageValue'].includes(m.resource?.target?.type))
    )
      return 'spec.metrics[].resource.target.type: Unsupported value';
  }
  for (const direction of ['scaleUp', 'scaleDown']) {
    const invalid = validateScalingRules(spec.behavior?.[direction], `spec.behavior.${direction}`);
    if (invalid) return invalid;
  }
  return undefined;
}

/**
 * validateScalingRules checks one HPAScalingRules as the API server does after defaulting (a nil
 * policies list is defaulted, an empty one is not): window 0..3600, selectPolicy Max|Min|Disabled,
 * at least one policy of type Pods|Percent with value > 0 and periodSeconds 1..1800, all integers.
 */
function validateScalingRules(rules: Json | undefined, at: string): string | undefined {
  if (rules === undefined) return undefined;
  const window = rules.stabilizationWindowSeconds;
  if (window !== undefined && (!Number.isInteger(window) || window < 0 || window > 3600))
    return `${at}.stabilizationWindowSeconds: Invalid value: ${window}`;
  if (rules.selectPolicy !== undefined && !['Max', 'Min', 'Disabled'].includes(rules.selectPolicy))
    return `${at}.selectPolicy: Unsupported value: "${rules.selectPolicy}"`;
  if (Array.isArray(rules.policies) && rules.policies.length === 0)
    return `${at}.policies: Required value: must specify at least one Policy`;
  for (const p of rules.policies ?? []) {
    if (!['Pods', 'Percent'].includes(p.type)) return `${at}.policies[].type: Unsupported value: "${p.type}"`;
    if (!Number.isInteger(p.value) || p.value <= 0)
      return `${at}.policies[].value: Invalid value: ${p.value}`;
    if (!Number.isInteger(p.periodSeconds) || p.periodSeconds <= 0 || p.periodSeconds > 1800)
      return `${at}.policies[].periodSeconds: Invalid value: ${p.periodSeconds}`;
  }
  return undefined;
}
