// A local server speaking the AWS Query protocol (form-encoded requests, XML answers) for the Auto
// Scaling (2011-01-01) and EC2 (2016-11-15) actions the aws provider uses, so the AWS SDK v3
// clients can be tested over real HTTP. Parameter names and XML shapes follow the API references;
// unknown actions or missing parameters get the AWS error XML. It plays the Auto Scaling service:
// instances go Pending → InService, instance refreshes roll within Min/MaxHealthyPercentage, and an
// instance marked Unhealthy by SetInstanceHealth is terminated and replaced (terminate, then
// launch: the default without an instance maintenance policy) — unless the mark respects the
// group's HealthCheckGracePeriod (ShouldRespectGracePeriod true or absent) and the instance is still
// inside it, counted from when it came into service: then the call succeeds and nothing happens.
// DescribeInstances reports each instance's real LaunchTime (when it was launched or last started).
// EnterStandby lowers the desired capacity (ShouldDecrementDesiredCapacity true, refused below
// MinSize) or launches a replacement (false), and ExitStandby raises it: Standby instances never
// count toward it.
// Every launch, termination and move in or out of Standby is a scaling activity, as Auto Scaling
// records them (Description `Launching a new EC2 instance: i-…`, StartTime at launch, StatusCode
// InProgress until the instance is InService, then Successful with that EndTime), served by
// DescribeScalingActivities: in-progress ones first, then newest first, MaxRecords (≤ 100) a page
// with a NextToken, only the last six weeks. `addInstances` seeds instances that were InService
// before the test (their LaunchTime, launch activity and its status, or none).
import { once } from 'node:events';
import { createServer, type Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Inst {
  id: string;
  type: string;
  ip: string;
  lifecycle: string;
  health: 'Healthy' | 'Unhealthy';
  ec2State: 'pending' | 'running' | 'stopping' | 'stopped';
  /** EC2 LaunchTime, ms since the epoch: when it was launched, or last started after a stop. */
  launchedAt: number;
  /** When Auto Scaling first put it InService (the start of its health check grace period). */
  inServiceAt?: number;
  /** Instance scale-in protection (SetInstanceProtection): the group's own scale-in skips it. */
  protectedFromScaleIn?: boolean;
}

/** Activity is one scaling activity, as DescribeScalingActivities reports it. */
export interface Activity {
  id: string;
  description: string;
  cause: string;
  /** ms since the epoch. */
  start: number;
  end?: number;
  status: string;
  progress: number;
}

/** SeedOptions describe instances that were already in the group before the test. */
export interface SeedOptions {
  type?: string;
  /** EC2 LaunchTime, ms since the epoch. @defaultValue now */
  launchedAt?: number;
  /** When it came InService, the launch activity's EndTime. @defaultValue launchedAt */
  inServiceAt?: number;
  /**
   * The launch activity's StatusCode, or `none` for no launch activity (launched longer ago than
   * AWS keeps activities, or attached). @defaultValue 'Successful'
   */
  activity?: string;
}

const SIX_WEEKS = 42 * 24 * 3600_000;

/** CloudWatchRequest is a GetMetricData body in AWS JSON 1.0 (times in epoch seconds). */
interface CloudWatchRequest {
  StartTime: number;
  EndTime: number;
  ScanBy?: 'TimestampAscending' | 'TimestampDescending';
  MetricDataQueries: {
    Id: string;
    MetricStat?: {
      Metric: { Namespace?: string; MetricName?: string; Dimensions?: { Name: string; Value: string }[] };
      Period: number;
      Stat: string;
    };
  }[];
}

/** cloudWatchParams flattens the first query of a GetMetricData, for `requests`. */
function cloudWatchParams(body: CloudWatchRequest): Record<string, string> {
  const stat = body.MetricDataQueries?.[0]?.MetricStat;
  return {
    StartTime: String(body.StartTime),
    EndTime: String(body.EndTime),
    ...(stat && {
      Namespace: stat.Metric.Namespace ?? '',
      MetricName: stat.Metric.MetricName ?? '',
      Dimensions: (stat.Metric.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).join(','),
      Period: String(stat.Period),
      Stat: stat.Stat,
    }),
  };
}

/** AwsServer is the fake endpoint; `url` goes into the clients' `endpoint`. */
export class AwsServer {
  /** Every request: its action, parameters and the access key id it was signed with (SigV4 Credential). */
  readonly requests: { action: string; params: Record<string, string>; accessKey?: string }[] = [];
  /** InService count after every state change (for "never fewer than" checks). */
  readonly inServiceHistory: number[] = [];
  readonly instances = new Map<string, Inst>();
  url = '';
  group = {
    name: 'web-asg',
    min: 0,
    max: 10,
    desired: 0,
    type: 't3.small',
    template: { id: 'lt-0abc', version: '1' } as { id: string; version: string } | undefined,
    /** HealthCheckGracePeriod, seconds. */
    healthCheckGracePeriod: 0,
    /**
     * Name of an EC2_INSTANCE_TERMINATING lifecycle hook: a terminated instance waits in
     * `Terminating:Wait` until CompleteLifecycleAction (its heartbeat timeout is not played).
     */
    terminationHook: undefined as string | undefined,
  };
  /** Scaling activities, in the order they started. */
  readonly activities: Activity[] = [];
  /**
   * Actions whose requests are read and never answered: what a half-open connection or a stalled
   * proxy on the way to AWS looks like (AWS itself always answers, at worst 5xx). `close` cuts them.
   */
  readonly silent = new Set<string>();
  /** Actions carried out whose answer never reaches the caller (held like `silent` ones). */
  readonly unanswered = new Set<string>();
  /**
   * The next requests of an action answered with an error the API Reference lists for it, e.g.
   * TerminateInstanceInAutoScalingGroup's `ScalingActivityInProgress` (400: "The operation can't be
   * performed because there are scaling activities in progress"). Status and code are the docs';
   * the message is that description.
   */
  readonly refusals = new Map<string, { status: number; code: string; message: string }[]>();
  /**
   * Actions whose answer, read when the request arrives, reaches the caller this many ms later (a
   * slow network or a loaded machine): a read in flight then shows the group as it was when sent.
   */
  readonly slow = new Map<string, number>();
  /**
   * Actions whose requests wait, before they are carried out, until a condition holds (see `hold`):
   * a request that reaches AWS late reads the group as it is then, not as when it was sent.
   */
  readonly #holds = new Map<string, { until: () => boolean; waiting: () => void; parked: (() => void)[] }>();
  /**
   * CloudWatch's AWS/EC2 CPUUtilization of the group (dimension AutoScalingGroupName), one Average
   * per 60-s period, dated at the period's start (ms since the epoch), as GetMetricData returns
   * them. What CloudWatch has published so far: a test adds the periods it wants read.
   */
  readonly cpuDatapoints: { at: number; average: number }[] = [];
  /** Actions answered 403 AccessDenied (an IAM policy without them). */
  readonly denied = new Set<string>();
  /**
   * How many of the next requests of an action are answered 400 `Throttling` (Rate exceeded), as
   * AWS answers a caller over its API rate.
   */
  readonly throttled = new Map<string, number>();
  /**
   * How many DescribeAutoScalingGroups answers after a SetDesiredCapacity still show the
   * DesiredCapacity from before it: AWS does not promise read-after-write.
   */
  staleReadsAfterWrite = 0;
  /**
   * How many DescribeInstances that ask for an instance launched from now on do not know it yet
   * (EC2's eventual consistency; see the DescribeInstances case).
   */
  ec2UnknownReads = 0;
  #ec2Unknown = new Map<string, number>();
  /** DescribeAutoScalingGroups answers that showed a DesiredCapacity from before a write. */
  staleReadsServed = 0;
  #stale: { desired: number; reads: number } | undefined;
  templateVersions = 1;
  /**
   * The launch template's versions by number, each with its launch parameters as EC2 stores them:
   * CreateLaunchTemplateVersion copies its SourceVersion's and sets those it is given, and without
   * a SourceVersion keeps only those (the API reference: "the new version contains only the launch
   * parameters that you specify"). Version 1 has an AMI.
   */
  readonly templateData = new Map<number, Record<string, string>>([
    [1, { ImageId: 'ami-0abc', InstanceType: 't3.small' }],
  ]);
  /** The launch template's default version, what `$Default` names. */
  defaultTemplateVersion = 1;
  refresh: { id: string; status: string; min: number; max: number } | undefined;
  /** Every refresh StartInstanceRefresh started, oldest first (`refresh` is the group's latest). */
  #refreshes: { id: string; status: string; min: number; max: number }[] = [];
  #server: Server;
  #next = 1;
  /** Instances in Terminating:Wait, each with what CompleteLifecycleAction lets go on. */
  #hookWaits = new Map<string, () => void>();
  #timers = new Set<NodeJS.Timeout>();
  readonly #launchMs: number;
  readonly #cancelMs: number;
  readonly #terminateMs: number;
  readonly #now: () => number;

  /**
   * `launchMs`: how long an instance stays Pending (default 60). `terminateMs`: how long a
   * terminated instance stays listed as Terminating (default 30; minutes on AWS, where an instance
   * refresh reports Successful while the instances it replaced are still shutting down). `now`: the
   * wall clock of launch times and the grace period, ms since the epoch (default Date.now).
   * `cancelMs`: how long a cancelled instance refresh stays Cancelling before it is Cancelled
   * (default 0: at once; on AWS, until the replacements it began have finished).
   */
  constructor(
    options: { launchMs?: number; terminateMs?: number; cancelMs?: number; now?: () => number } = {},
  ) {
    this.#launchMs = options.launchMs ?? 60;
    this.#cancelMs = options.cancelMs ?? 0;
    this.#terminateMs = options.terminateMs ?? 30;
    this.#now = options.now ?? Date.now;
    this.#server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      const body = Buffer.concat(chunks).toString('utf8');
      // CloudWatch speaks AWS JSON 1.0 in the SDK version used (X-Amz-Target names the action);
      // Auto Scaling and EC2 the Query protocol.
      const target = req.headers['x-amz-target'];
      const json = typeof target === 'string' ? (JSON.parse(body) as CloudWatchRequest) : undefined;
      const params =
        typeof target === 'string'
          ? { Action: target.replace(/^GraniteServiceVersion20100801\./, ''), ...cloudWatchParams(json!) }
          : Object.fromEntries(new URLSearchParams(body));
      const accessKey = /Credential=([^/,\s]+)\//.exec(req.headers.authorization ?? '')?.[1];
      this.requests.push({ action: params.Action ?? '', params, ...(accessKey && { accessKey }) });
      const hold = this.#holds.get(params.Action ?? '');
      if (hold && !hold.until())
        await new Promise<void>((carryOut) => {
          hold.parked.push(carryOut);
          hold.waiting();
        });
      if (this.silent.has(params.Action ?? '')) return;
      // Done, and the answer lost on its way back (a connection reset after AWS acted).
      if (this.unanswered.has(params.Action ?? '')) return this.#handle(params, new ServerResponse(req));
      const delay = this.slow.get(params.Action ?? '');
      const out = delay === undefined ? res : this.#answerLater(res, delay);
      try {
        if (json) this.#handleCloudWatch(params.Action, json, out);
        else this.#handle(params, out);
      } catch (err) {
        this.#error(out, params.Version === '2016-11-15', 400, 'ValidationError', (err as Error).message);
      }
    });
  }

  async start(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  /**
   * activityInProgress answers the next `times` requests of `action` as Auto Scaling does while one
   * of the group's scaling activities runs: 400 `ScalingActivityInProgress`, with the API
   * Reference's description as the message (SetDesiredCapacity, TerminateInstanceInAutoScalingGroup
   * and UpdateAutoScalingGroup list it). Nothing is carried out.
   */
  activityInProgress(action: string, times: number): void {
    const refusals = this.refusals.get(action) ?? [];
    for (let i = 0; i < times; i++)
      refusals.push({
        status: 400,
        code: 'ScalingActivityInProgress',
        message: "The operation can't be performed because there are scaling activities in progress.",
      });
    this.refusals.set(action, refusals);
  }

  /**
   * hold keeps the requests of `action` that arrive from now on waiting until `until()` holds
   * (checked at every change of the group), then carries them out; it resolves once the first one
   * waits. Waiting, not slow (see `slow`): what the request reads is the group as it is by then.
   */
  hold(action: string, until: () => boolean): Promise<void> {
    return new Promise((waiting) => this.#holds.set(action, { until, waiting, parked: [] }));
  }

  inService(): number {
    return [...this.instances.values()].filter((i) => i.lifecycle === 'InService').length;
  }

  #handle(p: Record<string, string>, res: ServerResponse) {
    const need = (k: string) => {
      if (p[k] === undefined)
        throw new Error(
          `1 validation error detected: Value null at '${k}' failed to satisfy constraint: Member must not be null`,
        );
      return p[k]!;
    };
    const g = this.group;
    const asg = (action: string, result = '') =>
      this.#xml(
        res,
        `<${action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>r-${this.#next++}</RequestId></ResponseMetadata></${action}Response>`,
      );
    const ec2 = (action: string, body = '') =>
      this.#xml(
        res,
        `<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-${this.#next++}</requestId>${body}</${action}Response>`,
      );
    const ids = (prefix: string) =>
      Object.keys(p)
        .filter((k) => k.startsWith(prefix))
        .map((k) => p[k]!);
    if (this.denied.has(p.Action ?? ''))
      return this.#error(
        res,
        p.Version === '2016-11-15',
        403,
        'AccessDenied',
        `User: arn:aws:iam::123456789012:user/test is not authorized to perform: autoscaling:${p.Action}`,
      );
    const refusal = this.refusals.get(p.Action ?? '')?.shift();
    if (refusal)
      return this.#error(res, p.Version === '2016-11-15', refusal.status, refusal.code, refusal.message);
    const throttled = this.throttled.get(p.Action ?? '') ?? 0;
    if (throttled > 0) {
      this.throttled.set(p.Action!, throttled - 1);
      return this.#error(res, p.Version === '2016-11-15', 400, 'Throttling', 'Rate exceeded');
    }
    switch (p.Action) {
      case 'DescribeAutoScalingGroups': {
        if (p.Version !== '2011-01-01') throw new Error('bad version');
        const members = [...this.instances.values()]
          .filter((i) => i.lifecycle !== 'Terminated')
          .map(
            (i) =>
              `<member><InstanceId>${i.id}</InstanceId><InstanceType>${i.type}</InstanceType><AvailabilityZone>us-east-1a</AvailabilityZone><LifecycleState>${i.lifecycle}</LifecycleState><HealthStatus>${i.health}</HealthStatus><ProtectedFromScaleIn>${i.protectedFromScaleIn === true}</ProtectedFromScaleIn></member>`,
          )
          .join('');
        const lt = g.template
          ? `<LaunchTemplate><LaunchTemplateId>${g.template.id}</LaunchTemplateId><Version>${g.template.version}</Version></LaunchTemplate>`
          : '<LaunchConfigurationName>lc-web</LaunchConfigurationName>';
        const wanted = ids('AutoScalingGroupNames.member.');
        let shown = g.desired;
        if (this.#stale && this.#stale.reads > 0) {
          shown = this.#stale.desired;
          this.#stale.reads--;
          this.staleReadsServed++;
        }
        const body = wanted.includes(g.name)
          ? `<member><AutoScalingGroupName>${g.name}</AutoScalingGroupName>${lt}<MinSize>${g.min}</MinSize><MaxSize>${g.max}</MaxSize><DesiredCapacity>${shown}</DesiredCapacity><DefaultCooldown>300</DefaultCooldown><HealthCheckType>EC2</HealthCheckType><HealthCheckGracePeriod>${g.healthCheckGracePeriod}</HealthCheckGracePeriod><Instances>${members}</Instances></member>`
          : '';
        return asg('DescribeAutoScalingGroups', `<AutoScalingGroups>${body}</AutoScalingGroups>`);
      }
      case 'UpdateAutoScalingGroup':
        need('AutoScalingGroupName');
        if (p.MinSize) g.min = Number(p.MinSize);
        if (p.MaxSize) g.max = Number(p.MaxSize);
        // The API reference: without a DesiredCapacity, a new MinSize larger than the group's size
        // sets DesiredCapacity to it, and a new MaxSize smaller than that size sets it to the MaxSize.
        if (p.DesiredCapacity) g.desired = Number(p.DesiredCapacity);
        else g.desired = Math.min(g.max, Math.max(g.min, g.desired));
        if (p['LaunchTemplate.Version'] && g.template) {
          g.template.version = p['LaunchTemplate.Version'];
          // The group launches what that version holds (a version put back: the type it had).
          const v = g.template.version;
          const n =
            v === '$Latest'
              ? this.templateVersions
              : v === '$Default'
                ? this.defaultTemplateVersion
                : Number(v);
          const type = this.templateData.get(n)?.InstanceType;
          if (type) g.type = type;
        }
        this.#reconcile();
        return asg('UpdateAutoScalingGroup');
      case 'SetDesiredCapacity': {
        need('AutoScalingGroupName');
        const n = Number(need('DesiredCapacity'));
        // As AWS words it, naming the bound that was crossed (SetDesiredCapacity: "the value must be
        // within the group's minimum and maximum size"; the messages as the API answers them).
        if (n < g.min || n > g.max)
          return this.#error(
            res,
            false,
            400,
            'ValidationError',
            n < g.min
              ? `New SetDesiredCapacity value ${n} is below min value ${g.min} for the AutoScalingGroup.`
              : `New SetDesiredCapacity value ${n} is above max value ${g.max} for the AutoScalingGroup.`,
          );
        if (this.staleReadsAfterWrite > 0)
          this.#stale = { desired: g.desired, reads: this.staleReadsAfterWrite };
        g.desired = n;
        this.#reconcile();
        return asg('SetDesiredCapacity');
      }
      case 'TerminateInstanceInAutoScalingGroup': {
        const inst = this.instances.get(need('InstanceId'));
        const decrement = need('ShouldDecrementDesiredCapacity') === 'true';
        // Auto Scaling refuses a decrement below MinSize (ValidationError, worded as AWS answers it).
        if (decrement && g.desired <= g.min)
          return this.#error(
            res,
            false,
            400,
            'ValidationError',
            `Currently, desiredSize equals minSize (${g.min}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`,
          );
        if (decrement) g.desired--;
        if (inst) this.#terminate(inst);
        this.#reconcile();
        return asg(
          'TerminateInstanceInAutoScalingGroup',
          `<Activity><ActivityId>a-${this.#next}</ActivityId><StatusCode>InProgress</StatusCode></Activity>`,
        );
      }
      case 'SetInstanceProtection': {
        // The API reference: InstanceIds.member.N (up to 50), AutoScalingGroupName and
        // ProtectedFromScaleIn, all required; "This operation cannot be called on instances in a warm pool."
        need('AutoScalingGroupName');
        const on = need('ProtectedFromScaleIn') === 'true';
        for (const id of ids('InstanceIds.member.')) {
          const inst = this.instances.get(id);
          if (inst) inst.protectedFromScaleIn = on;
        }
        return asg('SetInstanceProtection');
      }
      case 'CompleteLifecycleAction': {
        const id = need('InstanceId');
        const proceed = this.#hookWaits.get(id);
        if (
          need('LifecycleHookName') !== g.terminationHook ||
          need('AutoScalingGroupName') !== g.name ||
          !proceed
        )
          return this.#error(
            res,
            false,
            400,
            'ValidationError',
            `No active Lifecycle Action found with instance ID ${id}`,
          );
        if (!['CONTINUE', 'ABANDON'].includes(need('LifecycleActionResult')))
          return this.#error(
            res,
            false,
            400,
            'ValidationError',
            'LifecycleActionResult must be CONTINUE or ABANDON',
          );
        this.#hookWaits.delete(id);
        proceed();
        return asg('CompleteLifecycleAction');
      }
      case 'SetInstanceHealth': {
        const inst = this.instances.get(need('InstanceId'));
        const status = need('HealthStatus');
        if (!inst || inst.lifecycle === 'Terminated')
          return this.#error(res, false, 400, 'ValidationError', `Instance Id not found - ${p.InstanceId}`);
        if (status !== 'Healthy' && status !== 'Unhealthy')
          return this.#error(res, false, 400, 'ValidationError', `Invalid health status ${status}`);
        // Inside the grace period a mark that respects it is accepted and ignored (ShouldRespectGracePeriod
        // defaults to true): the instance stays Healthy and in service.
        const respect = p.ShouldRespectGracePeriod !== 'false';
        if (status === 'Unhealthy' && respect && this.#inGrace(inst)) return asg('SetInstanceHealth');
        inst.health = status;
        this.#record();
        // Auto Scaling acts on the mark a moment later: the instance goes, a new one is launched.
        if (status === 'Unhealthy')
          this.#later(10, () => {
            if (inst.health === 'Unhealthy' && inst.lifecycle === 'InService') {
              this.#terminate(inst);
              this.#reconcile();
            }
          });
        return asg('SetInstanceHealth');
      }
      case 'StartInstanceRefresh': {
        need('AutoScalingGroupName');
        // One active refresh per group (the API reference's InstanceRefreshInProgress, 400).
        if (
          this.refresh &&
          ['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking'].includes(
            this.refresh.status,
          )
        )
          return this.#error(
            res,
            false,
            400,
            'InstanceRefreshInProgress',
            'The request failed because an active instance refresh already exists for the specified Auto Scaling group.',
          );
        const min = Number(p['Preferences.MinHealthyPercentage'] ?? 90);
        const max = Number(p['Preferences.MaxHealthyPercentage'] ?? 100);
        if (max < 100 || max > 200 || max - min < 10)
          return this.#error(
            res,
            false,
            400,
            'ValidationError',
            'MaxHealthyPercentage must be 100..200 and at least 10 above MinHealthyPercentage',
          );
        this.refresh = { id: `ir-${this.#next++}`, status: 'InProgress', min, max };
        this.#refreshes.push(this.refresh);
        this.#later(10, () => this.#refreshStep());
        return asg('StartInstanceRefresh', `<InstanceRefreshId>${this.refresh.id}</InstanceRefreshId>`);
      }
      case 'CancelInstanceRefresh': {
        need('AutoScalingGroupName');
        // Cancelling stops the refresh where it stands; it ends Cancelled (the fake after cancelMs).
        if (this.refresh?.status !== 'InProgress')
          return this.#error(
            res,
            false,
            400,
            'ActiveInstanceRefreshNotFound',
            'No in progress or pending Instance Refresh found for Auto Scaling group.',
          );
        const cancelling = this.refresh;
        if (this.#cancelMs === 0) cancelling.status = 'Cancelled';
        else {
          cancelling.status = 'Cancelling';
          this.#later(this.#cancelMs, () => {
            cancelling.status = 'Cancelled';
          });
        }
        return asg('CancelInstanceRefresh', `<InstanceRefreshId>${this.refresh.id}</InstanceRefreshId>`);
      }
      case 'DescribeInstanceRefreshes': {
        // Newest first, as AWS lists them; InstanceRefreshIds picks those named.
        const ids = Object.entries(p)
          .filter(([k]) => k.startsWith('InstanceRefreshIds.member.'))
          .map(([, v]) => v);
        const all = [...new Set([...this.#refreshes, ...(this.refresh ? [this.refresh] : [])])].reverse();
        const listed = all.filter((r) => ids.length === 0 || ids.includes(r.id));
        return asg(
          'DescribeInstanceRefreshes',
          `<InstanceRefreshes>${listed.map((r) => `<member><InstanceRefreshId>${r.id}</InstanceRefreshId><AutoScalingGroupName>${g.name}</AutoScalingGroupName><Status>${r.status}</Status></member>`).join('')}</InstanceRefreshes>`,
        );
      }
      case 'EnterStandby': {
        // With ShouldDecrementDesiredCapacity the desired capacity drops by as many (never below
        // MinSize); without it, the group launches replacements for them.
        const moving = ids('InstanceIds.member.');
        const decrement = need('ShouldDecrementDesiredCapacity') === 'true';
        if (decrement && g.desired - moving.length < g.min)
          return this.#error(
            res,
            false,
            400,
            'ValidationError',
            `AutoScalingGroup ${g.name} has min-size=${g.min}, max-size=${g.max}, and desired-size=${g.desired}. To place into standby ${moving.length} instances, please update the AutoScalingGroup sizes appropriately.`,
          );
        const done: Activity[] = [];
        for (const id of moving) {
          this.instances.get(id)!.lifecycle = 'Standby';
          done.push(this.#activity(`Moving EC2 instance to Standby: ${id}`, 'was moved to standby', true));
        }
        if (decrement) g.desired -= moving.length;
        this.#reconcile();
        return asg(
          'EnterStandby',
          `<Activities>${done.map((a) => this.#activityXml(a)).join('')}</Activities>`,
        );
      }
      case 'ExitStandby': {
        // Back from Standby is no new launch: the grace period is not started again.
        const done: Activity[] = [];
        for (const id of ids('InstanceIds.member.')) {
          this.instances.get(id)!.lifecycle = 'InService';
          done.push(
            this.#activity(`Moving EC2 instance out of Standby: ${id}`, 'was moved out of standby', true),
          );
        }
        g.desired += done.length;
        this.#record();
        return asg(
          'ExitStandby',
          `<Activities>${done.map((a) => this.#activityXml(a)).join('')}</Activities>`,
        );
      }
      case 'DescribeScalingActivities': {
        if (p.Version !== '2011-01-01') throw new Error('bad version');
        const max = Number(p.MaxRecords ?? 100);
        if (!Number.isInteger(max) || max < 1 || max > 100)
          return this.#error(
            res,
            false,
            400,
            'ValidationError',
            `1 validation error detected: Value '${p.MaxRecords}' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100`,
          );
        const wantedIds = ids('ActivityIds.member.');
        const horizon = this.#now() - SIX_WEEKS;
        const list =
          p.AutoScalingGroupName !== undefined && p.AutoScalingGroupName !== g.name
            ? []
            : this.activities
                .filter((a) => a.start >= horizon && (wantedIds.length === 0 || wantedIds.includes(a.id)))
                .sort(
                  (a, b) => Number(b.end === undefined) - Number(a.end === undefined) || b.start - a.start,
                );
        let from = 0;
        if (p.NextToken !== undefined) {
          const m = /^page-(\d+)$/.exec(p.NextToken);
          if (!m) return this.#error(res, false, 400, 'InvalidNextToken', 'The token is invalid.');
          from = Number(m[1]);
        }
        const page = list.slice(from, from + max);
        const next = from + max < list.length ? `<NextToken>page-${from + max}</NextToken>` : '';
        return asg(
          'DescribeScalingActivities',
          `<Activities>${page.map((a) => this.#activityXml(a)).join('')}</Activities>${next}`,
        );
      }
      case 'DescribeInstances': {
        // EC2 is eventually consistent with Auto Scaling (EC2 API Reference, "Eventual consistency":
        // a resource just created may not be found yet): an instance launched less than
        // `ec2UnknownReads` DescribeInstances ago is unknown. Asked for by InstanceId.N, the whole call
        // fails InvalidInstanceID.NotFound; matched by an instance-id filter, it is left out.
        const byId = ids('InstanceId.');
        const filtered = p['Filter.1.Name'] === 'instance-id' ? ids('Filter.1.Value.') : [];
        const unknownNow = new Set(
          [...byId, ...filtered].filter((id) => (this.#ec2Unknown.get(id) ?? 0) > 0),
        );
        const unknown = (id: string) => unknownNow.has(id);
        const missing = byId.filter(unknown);
        for (const id of unknownNow) this.#ec2Unknown.set(id, this.#ec2Unknown.get(id)! - 1);
        if (missing.length > 0)
          return this.#error(
            res,
            true,
            400,
            'InvalidInstanceID.NotFound',
            missing.length === 1
              ? `The instance ID '${missing[0]}' does not exist`
              : `The instance IDs '${missing.join(', ')}' do not exist`,
          );
        const wanted = [...byId, ...filtered.filter((id) => !unknown(id))];
        const items = wanted
          .map((id) => this.instances.get(id))
          .filter((i): i is Inst => i !== undefined)
          .map(
            (i) =>
              `<item><instanceId>${i.id}</instanceId><instanceType>${i.type}</instanceType><privateIpAddress>${i.ip}</privateIpAddress><launchTime>${new Date(i.launchedAt).toISOString()}</launchTime><instanceState><code>16</code><name>${i.ec2State}</name></instanceState></item>`,
          )
          .join('');
        return ec2(
          'DescribeInstances',
          `<reservationSet><item><reservationId>r-1</reservationId><instancesSet>${items}</instancesSet></item></reservationSet>`,
        );
      }
      case 'CreateLaunchTemplateVersion': {
        need('LaunchTemplateId');
        const type = need('LaunchTemplateData.InstanceType');
        const source = p.SourceVersion;
        const inherited = source === undefined ? {} : this.templateData.get(Number(source));
        if (!inherited || (source !== undefined && !/^\d+$/.test(source)))
          return this.#error(
            res,
            true,
            400,
            'InvalidLaunchTemplateId.VersionNotFound',
            `Could not find launch template version ${source}`,
          );
        const data: Record<string, string> = { ...inherited };
        for (const [k, v] of Object.entries(p))
          if (k.startsWith('LaunchTemplateData.')) data[k.slice('LaunchTemplateData.'.length)] = v;
        this.templateVersions++;
        this.templateData.set(this.templateVersions, data);
        g.type = type;
        return ec2(
          'CreateLaunchTemplateVersion',
          `<launchTemplateVersion><launchTemplateId>${p.LaunchTemplateId}</launchTemplateId><versionNumber>${this.templateVersions}</versionNumber><launchTemplateData><instanceType>${type}</instanceType></launchTemplateData></launchTemplateVersion>`,
        );
      }
      case 'DescribeLaunchTemplateVersions': {
        need('LaunchTemplateId');
        const items = ids('LaunchTemplateVersion.').map((v) => {
          const n =
            v === '$Latest'
              ? this.templateVersions
              : v === '$Default'
                ? this.defaultTemplateVersion
                : Number(v);
          const data = this.templateData.get(n) ?? {};
          return `<item><launchTemplateId>${p.LaunchTemplateId}</launchTemplateId><versionNumber>${n}</versionNumber><defaultVersion>${n === this.defaultTemplateVersion}</defaultVersion><launchTemplateData>${data.ImageId ? `<imageId>${data.ImageId}</imageId>` : ''}${data.InstanceType ? `<instanceType>${data.InstanceType}</instanceType>` : ''}</launchTemplateData></item>`;
        });
        return ec2(
          'DescribeLaunchTemplateVersions',
          `<launchTemplateVersionSet>${items.join('')}</launchTemplateVersionSet>`,
        );
      }
      case 'StopInstances':
      case 'StartInstances': {
        const stop = p.Action === 'StopInstances';
        for (const id of ids('InstanceId.')) {
          const i = this.instances.get(id)!;
          i.ec2State = stop ? 'stopping' : 'pending';
          this.#later(30, () => {
            i.ec2State = stop ? 'stopped' : 'running';
            // EC2's LaunchTime is that of the last start.
            if (!stop) i.launchedAt = this.#now();
          });
        }
        return ec2(p.Action, '<instancesSet/>');
      }
      case 'ModifyInstanceAttribute': {
        const i = this.instances.get(need('InstanceId'))!;
        if (i.ec2State !== 'stopped')
          return this.#error(
            res,
            true,
            400,
            'IncorrectInstanceState',
            `The instance '${i.id}' is not in the 'stopped' state.`,
          );
        i.type = need('InstanceType.Value');
        return ec2('ModifyInstanceAttribute', '<return>true</return>');
      }
      default:
        return this.#error(
          res,
          p.Version === '2016-11-15',
          400,
          'InvalidAction',
          `Could not find operation ${p.Action}`,
        );
    }
  }

  /**
   * addInstances puts `n` instances InService that were there before the test: launched at
   * `launchedAt`, InService since `inServiceAt`, with a launch activity of the given status (or
   * none). Returns their ids.
   */
  addInstances(n: number, options: SeedOptions = {}): string[] {
    const launchedAt = options.launchedAt ?? this.#now();
    const inServiceAt = options.inServiceAt ?? launchedAt;
    const status = options.activity ?? 'Successful';
    const added: string[] = [];
    for (let k = 0; k < n; k++) {
      const inst = this.#launch(options.type ?? this.group.type, 'InService', launchedAt);
      inst.inServiceAt = inServiceAt;
      const activity = this.activities.find((a) => a.description.endsWith(inst.id));
      if (status === 'none') this.activities.splice(this.activities.indexOf(activity!), 1);
      else
        Object.assign(activity!, {
          status,
          progress: status === 'Successful' ? 100 : 50,
          ...(status === 'Successful' ? { end: inServiceAt } : { end: undefined }),
        });
      added.push(inst.id);
    }
    this.activities.sort((a, b) => a.start - b.start);
    this.group.desired += n;
    return added;
  }

  /** addActivity records one more scaling activity (e.g. old ones of instances long gone). */
  addActivity(activity: Omit<Activity, 'id'>): Activity {
    const a = { id: `a-${this.#next++}`, ...activity };
    this.activities.push(a);
    this.activities.sort((x, y) => x.start - y.start);
    return a;
  }

  #launch(type: string, lifecycle = 'Pending', launchedAt = this.#now()): Inst {
    const n = this.#next++;
    const inst: Inst = {
      id: `i-0000000000000${String(n).padStart(3, '0')}`,
      type,
      ip: `10.0.1.${n}`,
      lifecycle,
      health: 'Healthy',
      ec2State: lifecycle === 'InService' ? 'running' : 'pending',
      launchedAt,
      ...(lifecycle === 'InService' && { inServiceAt: launchedAt }),
    };
    this.instances.set(inst.id, inst);
    if (this.ec2UnknownReads > 0) this.#ec2Unknown.set(inst.id, this.ec2UnknownReads);
    const activity = this.#activity(
      `Launching a new EC2 instance: ${inst.id}`,
      'was started in response to a difference between desired and actual capacity',
      lifecycle === 'InService',
      launchedAt,
    );
    if (lifecycle === 'Pending')
      this.#later(this.#launchMs, () => {
        if (inst.lifecycle === 'Pending') {
          inst.lifecycle = 'InService';
          inst.ec2State = 'running';
          inst.inServiceAt = this.#now();
          this.#finish(activity);
        }
      });
    this.#record();
    return inst;
  }

  /** #activity records an activity started now (or at `start`), done at once or InProgress. */
  #activity(description: string, cause: string, done: boolean, start = this.#now()): Activity {
    const a: Activity = {
      id: `a-${this.#next++}`,
      description,
      cause: `At ${new Date(start).toISOString()} an instance ${cause}.`,
      start,
      status: 'InProgress',
      progress: 50,
    };
    if (done) Object.assign(a, { status: 'Successful', progress: 100, end: start });
    this.activities.push(a);
    return a;
  }

  #finish(a: Activity): void {
    Object.assign(a, { status: 'Successful', progress: 100, end: this.#now() });
  }

  #activityXml(a: Activity): string {
    const time = (ms: number) => new Date(ms).toISOString();
    return `<member><ActivityId>${a.id}</ActivityId><AutoScalingGroupName>${this.group.name}</AutoScalingGroupName><Description>${esc(a.description)}</Description><Cause>${esc(a.cause)}</Cause><StartTime>${time(a.start)}</StartTime>${a.end === undefined ? '' : `<EndTime>${time(a.end)}</EndTime>`}<StatusCode>${a.status}</StatusCode><Progress>${a.progress}</Progress><Details>${esc('{"Subnet ID":"subnet-1","Availability Zone":"us-east-1a"}')}</Details></member>`;
  }

  /** #inGrace says whether the group's HealthCheckGracePeriod still covers the instance. */
  #inGrace(inst: Inst): boolean {
    const since = inst.inServiceAt ?? inst.launchedAt;
    return this.#now() - since < this.group.healthCheckGracePeriod * 1000;
  }

  #terminate(inst: Inst): void {
    const activity = this.#activity(
      `Terminating EC2 instance: ${inst.id}`,
      'was taken out of service',
      false,
    );
    const proceed = () => {
      inst.lifecycle = 'Terminating';
      this.#record();
      this.#later(this.#terminateMs, () => {
        this.instances.delete(inst.id);
        this.#finish(activity);
      });
    };
    if (this.group.terminationHook === undefined) {
      proceed();
      return;
    }
    inst.lifecycle = 'Terminating:Wait';
    this.#record();
    this.#hookWaits.set(inst.id, proceed);
  }

  #reconcile(): void {
    const live = [...this.instances.values()].filter(
      (i) => i.lifecycle === 'Pending' || i.lifecycle === 'InService',
    );
    for (let k = live.length; k < this.group.desired; k++) this.#launch(this.group.type);
    // The group's own scale-in never picks an instance protected from scale in ("Use instance
    // scale-in protection": it "can't terminate the required number of instances until their
    // instance scale-in protection settings are disabled"). TerminateInstanceInAutoScalingGroup
    // does not look at it: its API reference lists no such refusal.
    // Nor one marked Unhealthy: the termination policy "only applies to instances that aren't
    // considered unhealthy by the group" (Configure termination policies); the health check
    // replaces those.
    const excess = live.length - this.group.desired;
    if (excess > 0)
      for (const i of live
        .filter((m) => !m.protectedFromScaleIn && m.health !== 'Unhealthy')
        .slice(-excess)
        .reverse())
        this.#terminate(i);
    this.#record();
  }

  #refreshStep(): void {
    const r = this.refresh!;
    // Ended (a test set it Failed, or it was cancelled): nothing more is replaced.
    if (r.status !== 'InProgress') return;
    const desired = this.group.desired;
    const live = [...this.instances.values()].filter(
      (i) => i.lifecycle === 'Pending' || i.lifecycle === 'InService',
    );
    const old = live.filter((i) => i.type !== this.group.type);
    if (old.length === 0 && live.every((i) => i.lifecycle === 'InService')) {
      r.status = 'Successful';
      return;
    }
    const floor = Math.ceil((desired * r.min) / 100);
    const ceiling = Math.floor((desired * r.max) / 100);
    const inService = live.filter((i) => i.lifecycle === 'InService');
    const victim = old.find((i) => i.lifecycle === 'InService');
    if (victim && inService.length - 1 >= floor) this.#terminate(victim);
    else if (live.length < ceiling && old.length > 0) this.#launch(this.group.type);
    this.#later(20, () => this.#refreshStep());
  }

  /** #later_ is a response that writes to `res` what it is given, `ms` later (see `slow`). */
  #answerLater(res: ServerResponse, ms: number): ServerResponse {
    let head: Parameters<ServerResponse['writeHead']> | undefined;
    const held = {
      writeHead: (...args: Parameters<ServerResponse['writeHead']>) => {
        head = args;
        return held;
      },
      end: (body: string) => {
        this.#later(ms, () => {
          if (head) res.writeHead(...head);
          res.end(body);
        });
        return held;
      },
    };
    return held as unknown as ServerResponse;
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
      this.#record();
    }, ms);
    this.#timers.add(t);
  }

  #record(): void {
    this.inServiceHistory.push(this.inService());
    for (const [action, hold] of this.#holds) {
      if (!hold.until()) continue;
      this.#holds.delete(action);
      for (const carryOut of hold.parked) carryOut();
    }
  }

  /**
   * #handleCloudWatch answers GetMetricData as CloudWatch does in AWS JSON 1.0: one result per
   * query, Timestamps in epoch seconds, newest first unless ScanBy says TimestampAscending; only
   * the group's CPUUtilization Average at a 60-s period has data, any other metric an empty result
   * (as CloudWatch answers a metric it has no data for: Complete, no datapoints).
   */
  #handleCloudWatch(action: string | undefined, body: CloudWatchRequest, res: ServerResponse): void {
    const jsonError = (status: number, code: string, message: string) => {
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-query-error': `${code};Sender`,
      });
      res.end(JSON.stringify({ __type: `com.amazonaws.cloudwatch#${code}`, message }));
    };
    if (action !== undefined && this.denied.has(action)) {
      jsonError(
        403,
        'AccessDenied',
        `User: arn:aws:iam::123456789012:user/test is not authorized to perform: cloudwatch:${action}`,
      );
      return;
    }
    if (action !== 'GetMetricData') {
      jsonError(400, 'InvalidAction', `unknown action ${action}`);
      return;
    }
    const from = body.StartTime * 1000;
    const to = body.EndTime * 1000;
    const results = body.MetricDataQueries.map((q) => {
      const stat = q.MetricStat;
      const dims = stat?.Metric.Dimensions ?? [];
      const ours =
        stat?.Metric.Namespace === 'AWS/EC2' &&
        stat.Metric.MetricName === 'CPUUtilization' &&
        stat.Stat === 'Average' &&
        stat.Period === 60 &&
        dims.length === 1 &&
        dims[0]?.Name === 'AutoScalingGroupName' &&
        dims[0]?.Value === this.group.name;
      const points = ours
        ? this.cpuDatapoints
            .filter((d) => d.at >= from && d.at < to)
            .sort((a, b) => (body.ScanBy === 'TimestampAscending' ? a.at - b.at : b.at - a.at))
        : [];
      return {
        Id: q.Id,
        Label: stat?.Metric.MetricName ?? q.Id,
        Timestamps: points.map((d) => d.at / 1000),
        Values: points.map((d) => d.average),
        StatusCode: 'Complete',
      };
    });
    res.writeHead(200, {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': `r-${this.#next++}`,
    });
    res.end(JSON.stringify({ MetricDataResults: results, Messages: [] }));
  }

  #xml(res: ServerResponse, body: string): void {
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  }

  #error(res: ServerResponse, ec2: boolean, status: number, code: string, message: string): void {
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(
      ec2
        ? `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>r</RequestID></Response>`
        : `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
    );
  }
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
