import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { AutoScalingClient, AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { AwsProviderConfig } from '../../config/types.js';
import { deadline } from '../../deadline.js';
import { BusyError, callEngine, invalidInstanceCount, ProviderError } from '../errors.js';
import type { LocalProviderLogger } from '../local/provider.js';
import { validateSize } from '../local/provider.js';
import { planEngineReplace, replacePlanCode } from '../replace-plan.js';
import { ReturnToService } from '../return-to-service.js';
import type {
  DrainHook,
  Instance,
  InstanceSize,
  Provider,
  ProviderEvents,
  ReplaceResult,
  ResizeOptions,
} from '../types.js';
import { formatAddress, oldestFirst } from '../types.js';
import {
  type AsgBounds,
  type AsgInstanceView,
  activitySearchDone,
  asgBounds,
  asgState,
  countsTowardDesired,
  desiredSetElsewhere,
  type EntryTime,
  entryTimes,
  type FreshInstance,
  planStopStart,
  refreshMaxHealthyPercentage,
  refreshMinHealthyPercentage,
  type ScaleMember,
  type ScalingActivityView,
  scaleInVictims,
  scaleWait,
  withinHealthCheckGrace,
} from './plan.js';

/** AwsProviderOptions configures an AwsProvider. */
export interface AwsProviderOptions {
  group: string;
  config: AwsProviderConfig;
  minInstances: number;
  maxInstances: number;
  logger?: LocalProviderLogger;
  /** Waits until a removed instance has no request in flight. @defaultValue resolves at once */
  drain?: DrainHook;
  /** Ready-made SDK clients (tests). @defaultValue new clients with the standard credential chain, `region` and `endpoint` */
  clients?: { autoScaling: AutoScalingClient; ec2: EC2Client };
  /** The wall clock, AWS's (launch times, activities), of the warm-up and health-check grace. @defaultValue Date.now */
  now?: () => number;
  /**
   * Longest wait for a scale, a replacement or a resize, timed on the monotonic clock: on `now`, a
   * step of the system clock forward failed a wait under way at once, a step back held it for as
   * long as the step. @defaultValue 1800000 (ms)
   */
  timeout?: number;
  /**
   * Longest wait for one API call's answer, the SDK's retries included: an endpoint that stops
   * answering fails the call instead of holding the scale or the poll behind it. @defaultValue 30000 (ms)
   */
  requestTimeout?: number;
  /**
   * Rejects (FENCED) when this controller no longer leads; asked right before each termination of
   * a scale-in, each instance's stop of an in-place resize and a replacement's Unhealthy mark, after
   * that instance's drain, and before the rollback of a failed instance refresh (its cancel, the
   * version put back), which outlasts resize's check by up to the timeout: the
   * drains outlast the fence check of scaleTo or resize (drain_timeout each), and a controller
   * deposed meanwhile must not take away an instance its successor counts. @defaultValue every
   * change allowed
   */
  fence?: (what: string) => Promise<void>;
}

interface Member extends AsgInstanceView {
  /** Instance scale-in protection: an operator's (or ECS's) word that it must stay. */
  protectedFromScaleIn: boolean;
  privateIp?: string;
  instanceType?: string;
  launchedAt: number;
}

/**
 * ACTIVE_REFRESH are the statuses of an instance refresh that holds the group: Auto Scaling refuses
 * another StartInstanceRefresh meanwhile (InstanceRefreshInProgress).
 */
const ACTIVE_REFRESH = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);

const NOOP: LocalProviderLogger = { info() {}, warn() {}, error() {} };
/** Instance ids sent in one DescribeInstances filter: a large group is read in batches of this many. */
const EC2_FILTER_VALUES = 200;
/** DescribeScalingActivities pages (of 100) read at most to date instances first seen InService. */
const ACTIVITY_PAGES = 5;
/**
 * SetDesiredCapacity calls of a scale refused `ScalingActivityInProgress` before it fails BUSY (the
 * next decision asks again); between them a wait of the poll interval (at most 1 s), doubling.
 */
const ACTIVITY_ATTEMPTS = 3;

/**
 * activityInProgress says Auto Scaling refused a call with `ScalingActivityInProgress` (the SDK's
 * ScalingActivityInProgressFault): one of the group's scaling activities runs (a launch or
 * termination under way, an instance refresh), and the same call goes through once it ends.
 */
function activityInProgress(err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name;
  return name === 'ScalingActivityInProgressFault' || name === 'ScalingActivityInProgress';
}

/**
 * AwsProvider runs a group as an EC2 Auto Scaling group. Membership comes from
 * DescribeAutoScalingGroups + DescribeInstances (private IPs), polled; an instance is ready once
 * InService and past `instance_warmup`, counted (for one already InService when first seen) from
 * when the group's scaling activities (DescribeScalingActivities) say it came into service.
 * Scale-out is SetDesiredCapacity; scale-in drains the newest
 * instances and removes them with TerminateInstanceInAutoScalingGroup (decrementing the capacity),
 * so no request is cut. `resize` changes the instance type without downtime: a new launch template
 * version and an instance refresh whose MinHealthyPercentage keeps min_instances in service, or,
 * for a group without a launch template, one instance at a time stop → ModifyInstanceAttribute →
 * start, refused unless the others still cover min_instances (the refresh's terminations are
 * drained first only with `termination_hook`, see `#completeTerminations`). `replace` marks one
 * instance Unhealthy (SetInstanceHealth) for the group to replace.
 */
export class AwsProvider extends EventEmitter<ProviderEvents> implements Provider {
  /** Always `'aws'`. */
  readonly kind = 'aws';
  /** The instance type of the launch template; CPU and memory come with it. */
  readonly resizes = ['instanceType'] as const;
  /**
   * With a launch template, a resize outlives this controller once the new template version is the
   * group's and its instance refresh started: Auto Scaling rolls the instances from there on its own.
   * The control API answers after those calls (see `resize`).
   */
  readonly savesSize = true;
  readonly #options: AwsProviderOptions;
  readonly #config: AwsProviderConfig;
  readonly #logger: LocalProviderLogger;
  readonly #now: () => number;
  #sdk:
    | {
        as: typeof import('@aws-sdk/client-auto-scaling');
        ec2: typeof import('@aws-sdk/client-ec2');
        retry: typeof import('@smithy/core/retry');
      }
    | undefined;
  #clients: { autoScaling: AutoScalingClient; ec2: EC2Client } | undefined;
  #members = new Map<string, Member>();
  #inServiceSince = new Map<string, number>();
  #desired = 0;
  /** The size of the latest resize asked for (what `size()` says), kept while it runs. */
  #size: InstanceSize | undefined;
  /** The size the group launches by this provider's resizes: that of the last whose writes were made. */
  #sizeLaunched: InstanceSize | undefined;
  /** Resizes begun: a resize whose number is not the last one's was superseded by a later one. */
  #resizeSeq = 0;
  /** The latest resize, settled (never rejects): the next one waits for it to hand over. */
  #resizeRunning: Promise<void> | undefined;
  #launchTemplate: { id?: string; name?: string; version?: string } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #observing: Promise<void> | undefined;
  /** The group as observe first read it; start aligns its MinSize/MaxSize. */
  #observedGroup: AutoScalingGroup | undefined;
  #started: Promise<void> | undefined;
  #closed = false;
  #lastKey = '';
  #polling: Promise<void> | undefined;
  #gracePeriodMs = 0;
  #replacing = false;
  /** Instances drained for a termination or a replacement that failed (see ReturnToService). */
  readonly #drained = new ReturnToService();
  /** Instances this process terminated, until the group no longer lists them. */
  #removing = new Set<string>();
  /**
   * Instances held by the termination hook, each with its drain and completion (under way or done),
   * so a resize can wait for the last old instance's to finish.
   */
  #terminating = new Map<string, Promise<void>>();
  /** Writes to the desired capacity in progress (a scale's, an in-place resize's Standby). */
  #writes = 0;
  /** Bumped as each such write starts and ends: a read sent at another epoch may miss one. */
  #writeEpoch = 0;
  /** DesiredCapacity from the last polls sent and answered with no write of ours started since. */
  #desiredReads: number[] = [];
  /** Desired capacities taken from the group after another client changed it (ends every wait). */
  #adoptions = 0;
  /** The last failure reported (see `report`). */
  #reported: Error | undefined;
  /** scaleTo calls waiting for the group to reach `#desired`. */
  #waits = 0;
  /** min/max_instances as configured now (a config reload changes them, see `setBounds`). */
  #bounds: AsgBounds;
  /**
   * The MinSize/MaxSize this process last gave the group (or found it with at start). Compared with
   * what it wants, not with what a read shows: a MaxSize an operator lowered in the console stays
   * until min/max_instances change again (SetDesiredCapacity above it is refused, as before).
   */
  #asgBounds: Partial<AsgBounds> = {};
  /** The latest UpdateAutoScalingGroup of the bounds (see `#alignBounds`), settled: they run one at a time. */
  #aligning: Promise<void> = Promise.resolve();

  constructor(options: AwsProviderOptions) {
    super();
    if (!options.config.autoScalingGroup)
      throw new ProviderError('INVALID_ARGUMENT', `group ${options.group}: auto_scaling_group is empty`);
    this.#options = options;
    this.#config = options.config;
    this.#logger = options.logger ?? NOOP;
    this.#now = options.now ?? Date.now;
    this.#bounds = { min: options.minInstances, max: options.maxInstances };
  }

  /**
   * observe creates the clients and polls membership (DescribeAutoScalingGroups + DescribeInstances
   * every poll_interval), and writes nothing: what a standby does, so `instances()` and `change`
   * describe the group while another controller leads. A later `start()` keeps this polling and
   * only adds the write. A failed observe can be called again.
   */
  observe(): Promise<void> {
    this.#observing ??= this.#observe().catch((err: unknown) => {
      this.#observing = undefined;
      throw err;
    });
    return this.#observing;
  }

  /**
   * start observes (see `observe`) and aligns the group's MinSize/MaxSize with
   * min/max_instances. After an earlier observe (a standby taking over) it reads the group again:
   * its desired capacity may have changed since.
   */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const observed = this.#observing !== undefined;
    await this.observe();
    const group = observed ? await this.#describeGroup() : this.#observedGroup!;
    this.#desired = group.DesiredCapacity ?? 0;
    const { min, max } = this.#bounds;
    this.#asgBounds = { min, max };
    if (group.MinSize !== min || group.MaxSize !== max) {
      const { as } = this.#sdk!;
      // A write to the desired capacity too, when it lies outside the new bounds: a poll in flight
      // meanwhile does not tell whether another client changed it.
      await this.#writing(async () => {
        await this.#call('UpdateAutoScalingGroup', (abortSignal) =>
          this.#clients!.autoScaling.send(
            new as.UpdateAutoScalingGroupCommand({
              AutoScalingGroupName: this.#config.autoScalingGroup,
              MinSize: min,
              MaxSize: max,
            }),
            { abortSignal },
          ),
        );
        this.#desiredWithinBounds();
      });
    }
  }

  /**
   * desiredWithinBounds follows what UpdateAutoScalingGroup did to a DesiredCapacity outside the
   * new MinSize/MaxSize (its API reference: a MinSize above the group's size sets DesiredCapacity to
   * it, a MaxSize below sets it to that), and says so naming the setting: before, `desired()` kept
   * the old count, above max_instances, until two polls later the group's own change was warned
   * about as set by another client.
   */
  #desiredWithinBounds(): void {
    const { min, max } = this.#bounds;
    const was = this.#desired;
    const now = Math.min(max, Math.max(min, was));
    if (now === was) return;
    this.#desired = now;
    this.#logger.warn(
      { group: this.#options.group, was, desired: now, reason: 'DesiredOutsideBounds' },
      `${this.#config.autoScalingGroup}: DesiredCapacity ${was} is ${was > max ? `above max_instances (${max})` : `below min_instances (${min})`}: aligning MaxSize/MinSize set it to ${now}${was > max ? `, and the group terminates ${was - now} instance(s) by its own termination policy, not drained by Scaleplane` : ''}; desired is ${now} now`,
    );
    this.emit('change');
  }

  async #observe(): Promise<void> {
    const [as, ec2, retry] = await Promise.all([
      import('@aws-sdk/client-auto-scaling'),
      import('@aws-sdk/client-ec2'),
      import('@smithy/core/retry'),
    ]);
    this.#sdk = { as, ec2, retry };
    const common = {
      ...(this.#config.region && { region: this.#config.region }),
      ...(this.#config.endpoint && { endpoint: this.#config.endpoint }),
    };
    this.#clients = this.#options.clients ?? {
      autoScaling: new as.AutoScalingClient(common),
      ec2: new ec2.EC2Client(common),
    };
    await this.#checkSetup();
    const group = await this.#describeGroup();
    this.#observedGroup = group;
    this.#desired = group.DesiredCapacity ?? 0;
    await this.#poll();
    if (this.#closed) return;
    this.#timer = setInterval(() => {
      this.#poll().catch((err: unknown) => this.#report(err as Error));
    }, this.#config.pollInterval);
    this.#timer.unref();
  }

  /**
   * checkSetup resolves the clients' region and credentials before the first call, so a machine
   * without them fails with one line naming what to set. The SDK's own words name nothing: "Region
   * is missing", "Could not load credentials from any providers".
   */
  async #checkSetup(): Promise<void> {
    const group = this.#options.group;
    const config = this.#clients!.autoScaling.config;
    try {
      await config.region();
    } catch (err) {
      throw new ProviderError(
        'INVALID_ARGUMENT',
        `groups.${group}.region is not set, and the AWS SDK found none in AWS_REGION or the profile's config`,
        { cause: err },
      );
    }
    try {
      await config.credentials();
    } catch (err) {
      const profile = process.env.AWS_PROFILE ? ` (AWS_PROFILE=${process.env.AWS_PROFILE})` : '';
      throw new ProviderError(
        'API_ERROR',
        `group ${group}: no AWS credentials for ${this.#config.autoScalingGroup}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile${profile} in ~/.aws, or run with an instance or task role (${(err as Error).message})`,
        { cause: err },
      );
    }
  }

  /** instances lists the group's members that have a private IP, oldest first. */
  instances(): readonly Instance[] {
    const now = this.#now();
    const list: Instance[] = [];
    for (const m of this.#members.values()) {
      if (!m.privateIp) continue;
      const state = this.#drained.state(m.id, asgState(m, this.#config.instanceWarmup, now));
      list.push(
        Object.freeze({
          id: m.id,
          group: this.#options.group,
          address: formatAddress(m.privateIp, this.#config.port),
          state,
          startedAt: m.launchedAt,
          ...(state === 'ready' &&
            m.inServiceSince !== undefined && { readyAt: m.inServiceSince + this.#config.instanceWarmup }),
          ...(m.instanceType && { size: { instanceType: m.instanceType } }),
        }),
      );
    }
    return list.sort(oldestFirst);
  }

  /** desired is the group's DesiredCapacity as last written or read. */
  desired(): number {
    return this.#desired;
  }

  /** size is the instance type of the last resize, if any. */
  size(): InstanceSize | undefined {
    return this.#size;
  }

  /**
   * setBounds takes min/max_instances changed by a config reload into the group's MinSize/MaxSize
   * (UpdateAutoScalingGroup), as `start` does with those it was built with. Widened to hold the
   * current DesiredCapacity (`asgBounds`): the controller's scale that fits the count inside the new
   * bounds drains what it removes, and the bounds follow once it is made (see `scaleTo`). Before,
   * they stayed as `start` set them: with max_instances raised from 3 to 5 every scale-out past 3
   * failed (`SetDesiredCapacity failed: New SetDesiredCapacity value 5 is above max value 3`), and a
   * max_instances lowered left the group's MaxSize above it. Writes only while leading (after
   * `start`, through the fence); a standby keeps them for its `start`.
   */
  async setBounds(min: number, max: number): Promise<void> {
    this.#bounds = { min, max };
    if (this.#started === undefined || this.#closed) return;
    await this.#started;
    try {
      await this.#options.fence?.(`set MinSize/MaxSize of ${this.#config.autoScalingGroup}`);
    } catch {
      // Deposed: the bounds are the leader's to write; kept here for this one's next `start`.
      return;
    }
    await this.#alignBounds();
  }

  /**
   * alignBounds gives the group the MinSize/MaxSize `asgBounds` says for the configured bounds and
   * its DesiredCapacity (and `next`, a count a scale is about to write), when they differ from what
   * it has. One at a time, each from the counts as they are when it runs.
   */
  #alignBounds(next?: number): Promise<void> {
    const run = this.#aligning.then(async () => {
      const want = asgBounds(this.#bounds, next === undefined ? [this.#desired] : [this.#desired, next]);
      if (want.min === this.#asgBounds.min && want.max === this.#asgBounds.max) return;
      const { as } = this.#sdk!;
      await this.#call('UpdateAutoScalingGroup', (abortSignal) =>
        this.#clients!.autoScaling.send(
          new as.UpdateAutoScalingGroupCommand({
            AutoScalingGroupName: this.#config.autoScalingGroup,
            MinSize: want.min,
            MaxSize: want.max,
          }),
          { abortSignal },
        ),
      );
      this.#asgBounds = want;
      this.#logger.info(
        { group: this.#options.group, minSize: want.min, maxSize: want.max, reason: 'BoundsAligned' },
        `${this.#config.autoScalingGroup}: MinSize ${want.min}, MaxSize ${want.max} (min_instances ${this.#bounds.min}, max_instances ${this.#bounds.max}, DesiredCapacity ${this.#desired})`,
      );
    });
    this.#aligning = run.catch(() => {});
    return run;
  }

  /**
   * scaleTo raises DesiredCapacity (SetDesiredCapacity) or drains and terminates the newest
   * instances with TerminateInstanceInAutoScalingGroup, then resolves once the members Auto Scaling
   * counts toward the desired capacity (not those in Standby, see `scaleWait`) are `n`, all ready
   * (warm), and the terminated ones gone; API_ERROR naming what is missing after `timeout`. An
   * instance protected from scale-in is never terminated (`scaleInVictims`): too few unprotected,
   * it terminates those and rejects with CAPACITY naming the protected ones. A later
   * scaleTo supersedes it: both resolve at the later target. When another client changes the
   * group's DesiredCapacity meanwhile (the console, a scheduled action, a scaling policy), it
   * resolves at once with a warning naming the new capacity, which `desired()` then reports.
   */
  async scaleTo(target: number): Promise<void> {
    let n = target;
    const invalid = invalidInstanceCount(n);
    if (invalid) throw invalid;
    if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
    await this.start();
    // Planned from a read sent now, not the last poll's: an instance that poll saw in Standby may be
    // back InService, and a scale-in counted without it leaves the group above `n` for good.
    await this.#pollFresh();
    const { as } = this.#sdk!;
    const listed = this.instances();
    const live = listed.filter((i) => i.state === 'ready' || i.state === 'starting');
    // Unhealthy yet still counted toward the desired capacity (InService or Pending, its health
    // replacement not begun): AWS's own scale-in passes over it (its termination policy weighs only
    // healthy instances) and terminates a healthy one, undrained, and the health check then replaces
    // the unhealthy one. So it is counted, and goes first: it serves nobody.
    const unhealthy = new Set(
      listed
        .filter(
          (i) => i.state === 'failed' && countsTowardDesired(this.#members.get(i.id)?.lifecycleState ?? ''),
        )
        .map((i) => i.id),
    );
    const counted = [...listed.filter((i) => unhealthy.has(i.id)), ...live];
    const before = this.#desired;
    // min/max_instances changed by a reload since the group's MinSize/MaxSize were set: AWS refuses
    // a SetDesiredCapacity above MaxSize and a decrementing termination below MinSize.
    await this.#alignBounds(n);
    let shortOf: { target: number; kept: string[] } | undefined;
    await this.#writing(async () => {
      if (n >= counted.length) {
        this.#desired = n;
        try {
          await this.#setDesiredCapacity(n);
        } catch (err) {
          // A refused write (outside MinSize/MaxSize, say) changed nothing: desired() is what the
          // controller journals and persists as the group's count.
          this.#desired = before;
          throw err;
        }
      } else {
        const { victims, kept } = scaleInVictims(
          counted,
          (id) => this.#members.get(id)?.protectedFromScaleIn === true,
          n,
          (id) => unhealthy.has(id) || this.#drained.held(id),
        );
        // TerminateInstanceInAutoScalingGroup terminates a protected instance all the same: what
        // the protection keeps is left, and the scale-in stops short of `n`, counted as such.
        if (kept.length > 0) shortOf = { target: n, kept };
        n = counted.length - victims.length;
        this.#desired = n;
        for (const [done, victim] of victims.entries()) {
          await this.#options.drain?.(victim).catch(() => {});
          try {
            await this.#options.fence?.(`terminate ${victim.id}`);
          } catch (err) {
            // Deposed while draining: this one and those after it stay, for the next leader.
            this.#desired = n + victims.length - done;
            this.#drained.returnNow(victim.id, () => this.emit('change'));
            throw err;
          }
          try {
            await this.#call('TerminateInstanceInAutoScalingGroup', (abortSignal) =>
              this.#clients!.autoScaling.send(
                new as.TerminateInstanceInAutoScalingGroupCommand({
                  InstanceId: victim.id,
                  ShouldDecrementDesiredCapacity: true,
                }),
                { abortSignal },
              ),
            );
          } catch (err) {
            // Each termination made lowered DesiredCapacity by one; those after this one did not,
            // nor did this one unless it took effect unanswered: desired() is the group's count.
            const terminated = await this.#terminatedAnyway(victim.id, err);
            this.#desired = n + victims.length - done - (terminated ? 1 : 0);
            if (terminated) this.#removing.add(victim.id);
            else if (terminated === false) this.#drained.returnNow(victim.id, () => this.emit('change'));
            throw err;
          }
          this.#removing.add(victim.id);
        }
      }
    });
    this.emit('change');
    // The count made is inside min/max_instances now (or as close as protection let it get): the
    // bounds widened for the way there close in. A failure here leaves them wide, and the scale made.
    await this.#alignBounds().catch((err: unknown) => this.#report(err as Error));
    if (shortOf)
      throw new ProviderError(
        'CAPACITY',
        `${this.#config.autoScalingGroup}: scale-in to ${shortOf.target} stopped at ${n}: ${shortOf.kept.join(', ')} ${shortOf.kept.length === 1 ? 'is' : 'are'} protected from scale-in (ProtectedFromScaleIn); remove the protection (SetInstanceProtection) to let them go`,
      );
    const adoptions = this.#adoptions;
    let progress = '';
    this.#waits++;
    try {
      await this.#waitFor(
        () => {
          // The poll took the capacity another client set (`#followDesired`): not ours to wait for.
          if (this.#adoptions !== adoptions) return true;
          const wait = scaleWait(this.#scaleMembers(), this.#desired, this.#removing, this.#desiredReads);
          progress = wait.message;
          return wait.reason === 'CapacityReached';
        },
        () => `scale to ${this.#desired} not done in time (${progress})`,
      );
    } finally {
      this.#waits--;
    }
  }

  /**
   * followDesired takes the group's DesiredCapacity as `desired()` once another client set it
   * (`desiredSetElsewhere`: two reads after this process's last write agree on another value),
   * whether or not a scale is waiting: a scheduled action or an operator in the console changes it
   * between scales too, and the controller decides from `desired()`. Logged once per change (a
   * warning while leading, info while only observing, where the leader's writes are expected) and
   * announced with `change`; a waiting scaleTo resolves.
   */
  #followDesired(): void {
    const groupDesired = desiredSetElsewhere(this.#desiredReads, this.#desired);
    if (groupDesired === undefined) return;
    const was = this.#desired;
    const asg = this.#config.autoScalingGroup;
    const fields = {
      group: this.#options.group,
      target: was,
      desired: groupDesired,
      reason: 'DesiredChangedElsewhere',
    };
    if (this.#waits > 0) {
      const wait = scaleWait(this.#scaleMembers(), was, this.#removing, this.#desiredReads);
      this.#logger.warn(
        fields,
        `${asg}: ${wait.message}: not waiting for ${was} any more; desired is ${groupDesired} now`,
      );
    } else if (this.#started) {
      this.#logger.warn(
        fields,
        `${asg}: DesiredCapacity is ${groupDesired}, set by another client (it was ${was}); desired is ${groupDesired} now`,
      );
    } else {
      this.#logger.info(
        fields,
        `${asg}: DesiredCapacity is ${groupDesired} (it was ${was}); desired is ${groupDesired} now`,
      );
    }
    this.#desired = groupDesired;
    this.#adoptions++;
    this.emit('change');
  }

  /**
   * terminatedAnyway says whether a TerminateInstanceInAutoScalingGroup that failed with `err`
   * took effect: false when AWS answered with an error (nothing was done); for a call that got no
   * answer (a timeout, a reset), what a fresh read of the group shows (true once the instance is
   * terminating or gone); undefined when that read fails too, so the caller neither counts it
   * terminated nor sends it requests again.
   */
  async #terminatedAnyway(id: string, err: unknown): Promise<boolean | undefined> {
    const answered = (err as { cause?: { $metadata?: { httpStatusCode?: number } } }).cause?.$metadata;
    if (answered?.httpStatusCode !== undefined) return false;
    try {
      await this.#pollFresh();
    } catch {
      return undefined;
    }
    const state = this.#members.get(id)?.lifecycleState;
    return state === undefined || !/^(InService|Pending)/.test(state);
  }

  /**
   * returnToService puts an instance drained for a SetInstanceHealth that failed back into
   * rotation once it passes its health checks again. A call that got no answer may have marked it
   * Unhealthy after all, and Auto Scaling then terminates it: a fresh read decides (InService and
   * Healthy, it serves again; a failed read rejects, and it stays out for now).
   */
  async returnToService(id: string): Promise<boolean> {
    if (!this.#drained.held(id)) return false;
    await this.#pollFresh();
    const ready = this.instances().some((i) => i.id === id && i.state === 'ready');
    return this.#drained.returnHeld(id, ready, () => this.emit('change'));
  }

  /**
   * setDesiredCapacity writes the group's DesiredCapacity. Refused `ScalingActivityInProgress`
   * (BUSY, see `#call`), it is sent again after a wait, ACTIVITY_ATTEMPTS times in all, then the
   * BUSY is thrown: the group is unchanged, and the controller's next decision asks again. Before,
   * the refusal was a failed SetDesiredCapacity like any other (API_ERROR, journaled ScaleFailed,
   * counted toward the provider alert).
   */
  async #setDesiredCapacity(n: number): Promise<void> {
    const { as } = this.#sdk!;
    const base = Math.min(this.#config.pollInterval, 1000);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#call('SetDesiredCapacity', (abortSignal) =>
          this.#clients!.autoScaling.send(
            new as.SetDesiredCapacityCommand({
              AutoScalingGroupName: this.#config.autoScalingGroup,
              DesiredCapacity: n,
              HonorCooldown: false,
            }),
            { abortSignal },
          ),
        );
        return;
      } catch (err) {
        if (!(err instanceof BusyError) || attempt >= ACTIVITY_ATTEMPTS || this.#closed) throw err;
        const ms = base * 2 ** (attempt - 1);
        this.#logger.info(
          { group: this.#options.group, attempt, reason: 'ScalingActivityInProgress' },
          `${this.#config.autoScalingGroup}: SetDesiredCapacity ${n} refused while a scaling activity is in progress; sending it again in ${ms} ms`,
        );
        await delay(ms);
      }
    }
  }

  /** scaleMembers is every member as the wait of a scale judges it. */
  #scaleMembers(): ScaleMember[] {
    const now = this.#now();
    return [...this.#members.values()].map((m) => ({
      id: m.id,
      lifecycleState: m.lifecycleState,
      ready: m.privateIp !== undefined && asgState(m, this.#config.instanceWarmup, now) === 'ready',
    }));
  }

  /**
   * writing runs `fn`, which changes the group's desired capacity: reads sent meanwhile may show a
   * capacity on its way, so none of them tells whether another client changed it.
   */
  async #writing<T>(fn: () => Promise<T>): Promise<T> {
    this.#writes++;
    this.#writeEpoch++;
    this.#desiredReads = [];
    try {
      return await fn();
    } finally {
      this.#writes--;
      this.#writeEpoch++;
    }
  }

  /**
   * resize changes every instance's type, never all at once: with a launch template, a new
   * template version and StartInstanceRefresh (MinHealthyPercentage keeps min_instances in
   * service); without one, stop → ModifyInstanceAttribute → start, one instance at a time, only
   * while the others cover min_instances (CAPACITY otherwise). With a launch template the calls up
   * to StartInstanceRefresh go to `options.onSizeSaved` (see `savesSize`); without one the size has
   * no record of its own to wait for (each instance is changed in place), so it is handed an empty
   * write: the answer waits for the journal alone, as before.
   *
   * A later resize supersedes this one, as on the local and Kubernetes providers: this one ends
   * (RESIZE_SUPERSEDED) at its next safe point and the later one starts from there. Auto Scaling
   * runs one instance refresh at a time (StartInstanceRefresh: InstanceRefreshInProgress), so the
   * superseded refresh is cancelled first (CancelInstanceRefresh: the instances it replaced keep
   * its type, those it was launching finish; Cancelling until then) and the later resize writes its
   * version and starts its refresh only once it is Cancelled. That refresh replaces every instance
   * not launched from its version (SkipMatching), those of the cancelled one included, within the
   * same MinHealthyPercentage. In place, the instance being stopped/started is finished first.
   * Before, the later resize was refused BUSY until the first had rolled every instance (up to
   * the timeout, 30 min). A refresh this provider did not start (the console's) is still refused
   * BUSY: it is not ours to cancel.
   */
  async resize(size: InstanceSize, options?: ResizeOptions): Promise<void> {
    validateSize(size);
    const type = size.instanceType;
    if (!type)
      throw new ProviderError('UNSUPPORTED', 'aws resizes the instance type (resources.instance_type)');
    if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
    const seq = ++this.#resizeSeq;
    const previous = this.#resizeRunning;
    const running = this.#resizeAfter(previous, seq, type, options);
    this.#resizeRunning = running.then(
      () => {},
      () => {},
    );
    // size() says the latest size asked for at once, as the Kubernetes provider's does.
    this.#size = { instanceType: type };
    return running;
  }

  /** latest is whether resize `seq` is still the last one asked for (not superseded). */
  #latest(seq: number): boolean {
    return this.#resizeSeq === seq;
  }

  /** superseded throws RESIZE_SUPERSEDED once a later resize than `seq` was asked for. */
  #superseded(seq: number): void {
    if (this.#latest(seq)) return;
    throw new ProviderError(
      'RESIZE_SUPERSEDED',
      `resize of ${this.#config.autoScalingGroup} superseded by a later one`,
    );
  }

  /** resizeAfter runs resize `seq` to `type` once `previous` (the resize it supersedes) has ended. */
  async #resizeAfter(
    previous: Promise<void> | undefined,
    seq: number,
    type: string,
    options: ResizeOptions | undefined,
  ): Promise<void> {
    let started = false;
    try {
      if (previous) {
        this.#logger.info(
          { group: this.#options.group, type },
          `${this.#config.autoScalingGroup}: resize to ${type} supersedes the one in progress: it starts once that one has stopped`,
        );
        await previous;
        // Superseded in turn while it waited: nothing of it was written.
        this.#superseded(seq);
        if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
        // The wait may have been long (a refresh Cancelling): this controller may lead no more.
        await this.#options.fence?.(`resize ${this.#config.autoScalingGroup} to ${type}`);
      }
      await this.start();
      await this.#describeGroup();
      const launchedBefore = this.#sizeLaunched;
      if (this.#launchTemplate?.id || this.#launchTemplate?.name) {
        await this.#instanceRefresh(
          type,
          seq,
          options?.onSizeSaved,
          () => {
            this.#sizeLaunched = launchedBefore;
            if (this.#latest(seq)) this.#size = launchedBefore;
          },
          () => {
            started = true;
            this.#sizeLaunched = { instanceType: type };
          },
        );
      } else {
        started = true;
        this.#sizeLaunched = { instanceType: type };
        options?.onSizeSaved?.(Promise.resolve());
        await this.#stopStart(type, seq);
      }
    } catch (err) {
      // Refused before its refresh started (BUSY, a failed write, superseded while it waited): the
      // group launches what it did; size() says so unless a later resize was asked for since.
      if (!started && this.#latest(seq)) this.#size = this.#sizeLaunched;
      throw err;
    }
  }

  /**
   * replace has the Auto Scaling group replace one InService instance: drain it, then
   * SetInstanceHealth Unhealthy with ShouldRespectGracePeriod, and the group terminates it and
   * launches a successor at the same desired capacity. That is what the AWS docs prescribe for a
   * health check of one's own ("Set up a custom health check for your Auto Scaling group": mark
   * the instance Unhealthy and Amazon EC2 Auto Scaling replaces it), and unlike
   * TerminateInstanceInAutoScalingGroup (ShouldDecrementDesiredCapacity false), which terminates
   * at once, it goes through the group's own replacement: its instance maintenance policy
   * (launch-before-terminate when the operator set one), termination lifecycle hooks, and the
   * health check grace period, so a newly launched instance is not replaced before it could warm.
   * Because Auto Scaling may terminate before it launches, `planEngineReplace` guards it: refused
   * (CAPACITY) when no other instance is ready, (BUSY) while another one is going away or another
   * replacement runs, and (BUSY) inside the grace period, where Auto Scaling would ignore the mark.
   * Resolves once the instance is terminating or gone and as many are ready as before.
   */
  async replace(id: string): Promise<ReplaceResult> {
    if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
    await this.start();
    if (this.#replacing)
      throw new ProviderError('BUSY', `${this.#config.autoScalingGroup}: another replacement is in progress`);
    await this.#pollFresh();
    const plan = planEngineReplace(this.instances(), id, this.#desired);
    if (!plan.ok)
      throw new ProviderError(
        replacePlanCode(plan.reason),
        `${this.#config.autoScalingGroup}: ${plan.message}`,
      );
    const member = this.#members.get(id)!;
    const since = Math.max(member.launchedAt, member.inServiceSince ?? 0);
    if (withinHealthCheckGrace(since, this.#gracePeriodMs, this.#now()))
      throw new ProviderError(
        'BUSY',
        `${id} is inside the group's health check grace period (${this.#gracePeriodMs / 1000}s): Auto Scaling would ignore an Unhealthy mark`,
      );
    const victim = this.instances().find((i) => i.id === id)!;
    const readyBefore = this.instances().filter((i) => i.state === 'ready').length;
    this.#replacing = true;
    // Held out after an earlier try: not returned to rotation while this one may take it away.
    this.#drained.forget(id);
    try {
      this.#logger.info(
        { group: this.#options.group, instance: id, plan: plan.reason },
        `replacing ${id}: marking it Unhealthy for ${this.#config.autoScalingGroup} to replace (${plan.othersReady} others ready)`,
      );
      await this.#options.drain?.(victim).catch(() => {});
      const { as } = this.#sdk!;
      try {
        // The drain outlasts replace's fence check: a controller deposed meanwhile marks nothing.
        await this.#options.fence?.(`mark ${id} Unhealthy`);
        await this.#call('SetInstanceHealth', (abortSignal) =>
          this.#clients!.autoScaling.send(
            new as.SetInstanceHealthCommand({
              InstanceId: id,
              HealthStatus: 'Unhealthy',
              ShouldRespectGracePeriod: true,
            }),
            { abortSignal },
          ),
        );
      } catch (err) {
        // Drained, not marked: it stays out of rotation (it fails its checks), InService and listed
        // ready so the replacement is tried again, until it passes its checks again (returnToService).
        this.#drained.hold(id);
        throw err;
      }
      await this.#waitFor(
        () => {
          const all = this.instances();
          const old = all.find((i) => i.id === id);
          const ready = all.filter((i) => i.state === 'ready').length;
          return (
            (old === undefined || old.state === 'stopping') && ready >= Math.min(readyBefore, this.#desired)
          );
        },
        () => `replacement of ${id} not done in time`,
      );
      if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
      return {
        method: 'set-instance-health',
        detail: `marked ${id} Unhealthy (SetInstanceHealth); ${this.#config.autoScalingGroup} launched a successor that is ready`,
      };
    } finally {
      this.#replacing = false;
    }
  }

  /** close stops polling; the Auto Scaling group keeps running. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#polling?.catch(() => {});
  }

  /** sizeWrite names the write a resize outlives this controller by (see `savesSize`). */
  get sizeWrite(): string {
    return `the new launch template version of Auto Scaling group ${this.#config.autoScalingGroup} (CreateLaunchTemplateVersion, UpdateAutoScalingGroup, StartInstanceRefresh)`;
  }

  async #instanceRefresh(
    type: string,
    seq: number,
    onSizeSaved: ((write: Promise<void>) => void) | undefined,
    onRevert: () => void,
    onStarted: () => void,
  ): Promise<void> {
    const template = { ...this.#launchTemplate! };
    const starting = this.#startRefresh(type);
    onSizeSaved?.(starting.then(() => {}));
    const { id, version, minHealthy } = await starting;
    onStarted();
    this.#logger.info(
      { group: this.#options.group, type, version, minHealthy, refresh: id },
      `resizing ${this.#config.autoScalingGroup} to ${type}: instance refresh ${id}, at least ${minHealthy}% healthy`,
    );
    const refresh = { active: true };
    try {
      await this.#awaitRefresh(id, refresh, seq);
    } catch (err) {
      if (!(err instanceof ProviderError && err.code === 'RESIZE_FAILED')) throw err;
      // Superseded meanwhile: the group's version and refresh are the later resize's to set.
      if (!this.#latest(seq)) throw err;
      throw await this.#undoRefresh(id, refresh.active, template, version, err, onRevert);
    }
  }

  /**
   * undoRefresh ends a resize whose instance refresh failed or ran out of time: a refresh still
   * running is cancelled (CancelInstanceRefresh: it stops where it stands), and the group is put
   * back on the launch template version it had, unless it no longer launches the resize's (an
   * auto rollback of AWS, or another client, set one since). Instances the refresh replaced keep
   * the new type; later launches get the type from before. Returns the error the resize fails with;
   * rejects with the fence's refusal (FENCED) if it refuses the cancel or the version put back.
   */
  async #undoRefresh(
    id: string | undefined,
    active: boolean,
    template: { id?: string; name?: string; version?: string },
    version: string,
    failure: ProviderError,
    onRevert: () => void,
  ): Promise<ProviderError> {
    const { as } = this.#sdk!;
    const asg = this.#config.autoScalingGroup;
    // The refresh outlasts resize's fence check (up to the timeout): a controller deposed while it
    // waited cancels nothing and puts no version back, undoing what its successor may have done.
    let refused = false;
    const fence = (what: string) =>
      this.#options.fence?.(what).catch((err: unknown) => {
        refused = true;
        this.#logger.warn(
          { err, group: this.#options.group, refresh: id },
          `${asg}: after the failed instance refresh ${id}, ${what} refused: this controller no longer leads; the refresh and the group's version are left for the next one`,
        );
        throw err;
      });
    try {
      if (active) {
        await fence(`cancel instance refresh ${id}`);
        await this.#call('CancelInstanceRefresh', (abortSignal) =>
          this.#clients!.autoScaling.send(
            new as.CancelInstanceRefreshCommand({ AutoScalingGroupName: asg }),
            { abortSignal },
          ),
        );
      }
      await this.#describeGroup();
      if (this.#launchTemplate?.version !== version) return failure;
      await fence(`put launch template version ${template.version ?? '$Default'} back`);
      if (!(await this.#putVersionBack(template, version))) return failure;
      onRevert();
      return new ProviderError(
        'RESIZE_FAILED',
        `${failure.message}${active ? ' (cancelled)' : ''}; launch template version ${template.version ?? '$Default'} put back: instances launched from now on get the type from before`,
        { cause: failure },
      );
    } catch (err) {
      if (refused) throw err;
      this.#logger.error(
        { err, group: this.#options.group, refresh: id },
        `${asg}: after the failed instance refresh ${id}, ${active ? 'cancelling it' : 'reading the group'} failed: the group may still launch version ${version} (the new size)`,
      );
      return failure;
    }
  }

  /**
   * startRefresh writes a launch template version of `type`, makes it the group's and starts the
   * instance refresh that rolls the instances onto it: from then on Auto Scaling does the rest.
   */
  async #startRefresh(
    type: string,
  ): Promise<{ id: string | undefined; version: string; minHealthy: number }> {
    const { as, ec2 } = this.#sdk!;
    const template = this.#launchTemplate!;
    await this.#refuseDuringRefresh(type);
    const source = await this.#sourceVersion(template);
    const created = await this.#call('CreateLaunchTemplateVersion', (abortSignal) =>
      this.#clients!.ec2.send(
        new ec2.CreateLaunchTemplateVersionCommand({
          ...(template.id ? { LaunchTemplateId: template.id } : { LaunchTemplateName: template.name }),
          SourceVersion: source,
          VersionDescription: `scaleplane resize to ${type}`,
          LaunchTemplateData: { InstanceType: type as never },
        }),
        { abortSignal },
      ),
    );
    const version = String(created.LaunchTemplateVersion?.VersionNumber ?? '$Latest');
    await this.#launchFrom(template, version);
    const minHealthy = refreshMinHealthyPercentage(
      this.#config.minHealthyPercentage,
      this.#bounds.min,
      this.#desired,
    );
    const started = await this.#call('StartInstanceRefresh', (abortSignal) =>
      this.#clients!.autoScaling.send(
        new as.StartInstanceRefreshCommand({
          AutoScalingGroupName: this.#config.autoScalingGroup,
          Strategy: 'Rolling',
          Preferences: {
            MinHealthyPercentage: minHealthy,
            MaxHealthyPercentage: refreshMaxHealthyPercentage(minHealthy, this.#desired),
            InstanceWarmup: Math.round(this.#config.instanceWarmup / 1000),
            SkipMatching: true,
          },
        }),
        { abortSignal },
      ),
    ).catch(async (err: unknown) => {
      // Without its refresh the new version would reach only the instances the group launches
      // from now on (scale-outs, replacements): a mixed group that no roll finishes. Unless this
      // controller was deposed while it waited: the group is then its successor's to set.
      const what = `put launch template version ${template.version ?? '$Default'} back`;
      const fenced = await this.#options.fence?.(what).then(
        () => false,
        (fenceErr: unknown) => {
          this.#logger.warn(
            { err: fenceErr, group: this.#options.group },
            `${this.#config.autoScalingGroup}: StartInstanceRefresh failed, and ${what} refused: this controller no longer leads; the group's version (${version}) is left for the next one`,
          );
          return true;
        },
      );
      if (!fenced) await this.#putVersionBack(template, version);
      throw err;
    });
    return { id: started.InstanceRefreshId, version, minHealthy };
  }

  /**
   * handOver cancels instance refresh `id` of a superseded resize and waits until it is no longer
   * active (Cancelling lasts while the replacements it began finish), so that the later resize's
   * StartInstanceRefresh is not refused (InstanceRefreshInProgress). The cancel goes through the
   * fence: a controller deposed meanwhile leaves the refresh to its successor (FENCED). A refresh
   * that ended in the meantime (ActiveInstanceRefreshNotFound) needs no cancel.
   */
  async #handOver(id: string | undefined): Promise<void> {
    const { as } = this.#sdk!;
    const asg = this.#config.autoScalingGroup;
    await this.#options.fence?.(`cancel instance refresh ${id} for a later resize`);
    // CancelInstanceRefresh names no refresh: it cancels the group's active one. Ours ended
    // meanwhile (or cancelled by someone), another one may be active now, not ours to cancel.
    if (!ACTIVE_REFRESH.has((await this.#refreshStatus(id)) ?? '')) return;
    const cancelled = await this.#call('CancelInstanceRefresh', (abortSignal) =>
      this.#clients!.autoScaling.send(new as.CancelInstanceRefreshCommand({ AutoScalingGroupName: asg }), {
        abortSignal,
      }),
    ).then(
      () => true,
      (err: unknown) => err,
    );
    const deadline = performance.now() + (this.#options.timeout ?? 1_800_000);
    for (;;) {
      const status = await this.#refreshStatus(id);
      if (!ACTIVE_REFRESH.has(status ?? '')) break;
      // Still active and the cancel failed: not one that ended meanwhile, so the cancel's error stands.
      if (cancelled !== true) throw cancelled;
      if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
      if (performance.now() > deadline)
        throw new ProviderError(
          'RESIZE_FAILED',
          `instance refresh ${id} still ${status}: not cancelled in time`,
        );
      await delay(Math.min(this.#config.pollInterval, 5000));
    }
    this.#logger.info(
      { group: this.#options.group, refresh: id },
      `${asg}: instance refresh ${id} cancelled for a later resize (the instances it replaced keep their type until that one's refresh)`,
    );
  }

  /** refreshStatus is the Status of instance refresh `id` of the group (undefined: none listed). */
  async #refreshStatus(id: string | undefined): Promise<string | undefined> {
    const { as } = this.#sdk!;
    const out = await this.#call('DescribeInstanceRefreshes', (abortSignal) =>
      this.#clients!.autoScaling.send(
        new as.DescribeInstanceRefreshesCommand({
          AutoScalingGroupName: this.#config.autoScalingGroup,
          ...(id && { InstanceRefreshIds: [id] }),
        }),
        { abortSignal },
      ),
    );
    return out.InstanceRefreshes?.[0]?.Status;
  }

  /**
   * refuseDuringRefresh refuses a resize (BUSY) while an instance refresh of the group is active:
   * Auto Scaling runs one at a time (StartInstanceRefresh: InstanceRefreshInProgress), and the
   * resize's template version would meanwhile reach only the instances launched outside any roll.
   */
  async #refuseDuringRefresh(type: string): Promise<void> {
    const { as } = this.#sdk!;
    const out = await this.#call('DescribeInstanceRefreshes', (abortSignal) =>
      this.#clients!.autoScaling.send(
        new as.DescribeInstanceRefreshesCommand({ AutoScalingGroupName: this.#config.autoScalingGroup }),
        { abortSignal },
      ),
    );
    const active = out.InstanceRefreshes?.find((r) => ACTIVE_REFRESH.has(r.Status ?? ''));
    if (active)
      throw new BusyError(
        `${this.#config.autoScalingGroup}: instance refresh ${active.InstanceRefreshId} is ${active.Status}: resize to ${type} refused, nothing changed; try again once it has ended (or cancel it with CancelInstanceRefresh)`,
        {
          operation: `instance refresh ${active.InstanceRefreshId} of ${this.#config.autoScalingGroup} (${active.Status})`,
        },
      );
  }

  /** launchFrom makes the group launch from `version` of its launch template (UpdateAutoScalingGroup). */
  async #launchFrom(template: { id?: string; name?: string }, version: string): Promise<void> {
    const { as } = this.#sdk!;
    await this.#call('UpdateAutoScalingGroup', (abortSignal) =>
      this.#clients!.autoScaling.send(
        new as.UpdateAutoScalingGroupCommand({
          AutoScalingGroupName: this.#config.autoScalingGroup,
          LaunchTemplate: {
            ...(template.id ? { LaunchTemplateId: template.id } : { LaunchTemplateName: template.name }),
            Version: version,
          },
        }),
        { abortSignal },
      ),
    );
  }

  /** putVersionBack makes the group launch from the template version it had before a resize again. */
  async #putVersionBack(
    template: { id?: string; name?: string; version?: string },
    created: string,
  ): Promise<boolean> {
    const previous = template.version ?? '$Default';
    try {
      await this.#launchFrom(template, previous);
      this.#logger.warn(
        { group: this.#options.group, version: previous },
        `${this.#config.autoScalingGroup}: launch template version ${previous} put back (version ${created} is no longer the group's)`,
      );
      return true;
    } catch (err) {
      this.#logger.error(
        { err, group: this.#options.group },
        `${this.#config.autoScalingGroup}: launch template version ${previous} could not be put back: the group launches version ${created} (the new size); set it back by hand`,
      );
      return false;
    }
  }

  /**
   * sourceVersion is the number of the template version the group launches from now, the base of
   * the resize's version: a version made without a SourceVersion holds only the parameters given
   * (an instance type, no AMI). `$Latest` and `$Default` (also what a group without a version
   * means) are resolved with DescribeLaunchTemplateVersions.
   */
  async #sourceVersion(template: { id?: string; name?: string; version?: string }): Promise<string> {
    const named = template.version ?? '$Default';
    if (/^\d+$/.test(named)) return named;
    const { ec2 } = this.#sdk!;
    const out = await this.#call('DescribeLaunchTemplateVersions', (abortSignal) =>
      this.#clients!.ec2.send(
        new ec2.DescribeLaunchTemplateVersionsCommand({
          ...(template.id ? { LaunchTemplateId: template.id } : { LaunchTemplateName: template.name }),
          Versions: [named],
        }),
        { abortSignal },
      ),
    );
    const number = out.LaunchTemplateVersions?.[0]?.VersionNumber;
    if (number === undefined)
      throw new ProviderError(
        'API_ERROR',
        `${this.#config.autoScalingGroup}: launch template ${template.id ?? template.name} has no version ${named}`,
      );
    return String(number);
  }

  /**
   * awaitRefresh polls instance refresh `id` until it succeeded and the old instances drained; once
   * resize `seq` is superseded, it cancels the refresh for the later one (see `#handOver`).
   */
  async #awaitRefresh(id: string | undefined, refresh: { active: boolean }, seq: number): Promise<void> {
    const deadline = performance.now() + (this.#options.timeout ?? 1_800_000);
    for (;;) {
      if (!this.#latest(seq)) {
        await this.#handOver(id);
        this.#superseded(seq);
      }
      const status = await this.#refreshStatus(id);
      if (status === 'Successful') break;
      if (
        status === 'Failed' ||
        status === 'Cancelled' ||
        status === 'RollbackSuccessful' ||
        status === 'RollbackFailed'
      ) {
        refresh.active = false;
        // Ended while a later resize waited for it: that one takes over, nothing to undo.
        this.#superseded(seq);
        throw new ProviderError('RESIZE_FAILED', `instance refresh ${id} ended ${status}`);
      }
      if (this.#closed) throw new ProviderError('CLOSED', `group ${this.#options.group} is closed`);
      if (performance.now() > deadline)
        throw new ProviderError('RESIZE_FAILED', `instance refresh ${id} did not finish in time`);
      await delay(Math.min(this.#config.pollInterval, 5000));
    }
    // A read sent now: a poll already in flight may predate the last old instance's
    // Terminating:Wait, and the resize then ended before its drain (once in 6 runs, loaded machine).
    await this.#pollFresh();
    // The refresh counts an old instance done once it leaves service; with a termination hook it
    // may still be draining in Terminating:Wait. The resize is done when that drain is.
    await Promise.all(this.#terminating.values());
  }

  async #stopStart(type: string, seq: number): Promise<void> {
    const { as, ec2 } = this.#sdk!;
    for (;;) {
      // Between two instances, none of them in Standby: where a later resize takes over.
      this.#superseded(seq);
      await this.#pollFresh();
      const inService = [...this.#members.values()]
        .filter((m) => asgState(m, this.#config.instanceWarmup, this.#now()) === 'ready')
        .map((m) => ({ id: m.id, instanceType: m.instanceType ?? '' }));
      const plan = planStopStart(inService, type, this.#bounds.min);
      if (!plan.ok) {
        if (plan.reason === 'NothingToResize') return;
        throw new ProviderError('CAPACITY', `resize refused: ${plan.message}`);
      }
      const InstanceIds = [plan.instanceId];
      const asg = this.#config.autoScalingGroup;
      const victim = this.instances().find((i) => i.id === plan.instanceId);
      this.#logger.info(
        { group: this.#options.group, instance: plan.instanceId, type },
        `resizing ${plan.instanceId} in place to ${type}`,
      );
      let failed: ProviderError | undefined;
      // Standby first: the group neither sends it traffic nor replaces it while it is stopped.
      if (victim) await this.#options.drain?.(victim).catch(() => {});
      try {
        await this.#options.fence?.(`resize ${plan.instanceId} in place`);
      } catch (err) {
        // Deposed while draining: this one and those after it stay as they are, for the next leader.
        this.#drained.returnNow(plan.instanceId, () => this.emit('change'));
        throw err;
      }
      // EnterStandby lowers the desired capacity by one and ExitStandby raises it back: our own write.
      await this.#writing(async () => {
        await this.#call('EnterStandby', (abortSignal) =>
          this.#clients!.autoScaling.send(
            new as.EnterStandbyCommand({
              AutoScalingGroupName: asg,
              InstanceIds,
              ShouldDecrementDesiredCapacity: true,
            }),
            { abortSignal },
          ),
        );
        try {
          await this.#call('StopInstances', (abortSignal) =>
            this.#clients!.ec2.send(new ec2.StopInstancesCommand({ InstanceIds }), { abortSignal }),
          );
          await this.#waitEc2(plan.instanceId, 'stopped');
          await this.#modifyAndStart(plan.instanceId, type);
        } catch (err) {
          // E.g. InsufficientInstanceCapacity for the new type: left stopped in Standby, the group
          // would stay one instance short. Back to its type, started, and out of Standby.
          const was = inService.find((m) => m.id === plan.instanceId)?.instanceType;
          failed = await this.#putBackInPlace(plan.instanceId, was, type, err);
        }
        await this.#call('ExitStandby', (abortSignal) =>
          this.#clients!.autoScaling.send(
            new as.ExitStandbyCommand({ AutoScalingGroupName: asg, InstanceIds }),
            { abortSignal },
          ),
        );
      });
      this.#inServiceSince.delete(plan.instanceId);
      await this.#waitFor(
        () => this.instances().some((i) => i.id === plan.instanceId && i.state === 'ready'),
        () => `resize of ${plan.instanceId} not done in time`,
      );
      if (failed) throw failed;
    }
  }

  /** modifyAndStart gives stopped instance `id` type `type` and starts it (running). */
  async #modifyAndStart(id: string, type: string): Promise<void> {
    const { ec2 } = this.#sdk!;
    await this.#call('ModifyInstanceAttribute', (abortSignal) =>
      this.#clients!.ec2.send(
        new ec2.ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: type } }),
        { abortSignal },
      ),
    );
    await this.#call('StartInstances', (abortSignal) =>
      this.#clients!.ec2.send(new ec2.StartInstancesCommand({ InstanceIds: [id] }), { abortSignal }),
    );
    await this.#waitEc2(id, 'running');
  }

  /**
   * putBackInPlace ends a failed in-place resize of `id` (in Standby): stopped, it gets its type
   * `was` back and is started; the caller's ExitStandby then returns it to service. Returns the
   * resize's failure (RESIZE_FAILED) to throw once it serves again; throws when putting it back
   * fails too.
   */
  async #putBackInPlace(
    id: string,
    was: string | undefined,
    type: string,
    failure: unknown,
  ): Promise<ProviderError> {
    const { ec2 } = this.#sdk!;
    const reason = failure instanceof Error ? failure.message : String(failure);
    try {
      const out = await this.#call('DescribeInstances', (abortSignal) =>
        this.#clients!.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [id] }), { abortSignal }),
      );
      const state = out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
      if (state !== 'running') {
        if (state !== 'stopped') await this.#waitEc2(id, 'stopped');
        if (was) await this.#modifyAndStart(id, was);
        else {
          await this.#call('StartInstances', (abortSignal) =>
            this.#clients!.ec2.send(new ec2.StartInstancesCommand({ InstanceIds: [id] }), { abortSignal }),
          );
          await this.#waitEc2(id, 'running');
        }
      }
    } catch (err) {
      throw new ProviderError(
        'RESIZE_FAILED',
        `${id}: in-place resize to ${type} failed (${reason}), and putting it back failed too (${(err as Error).message}): it is in Standby, stopped or at the new type; start it and ExitStandby by hand`,
        { cause: failure },
      );
    }
    this.#logger.warn(
      { group: this.#options.group, instance: id, type, was },
      `${id}: in-place resize to ${type} failed (${reason}); put back at ${was ?? 'its type'}, leaving Standby`,
    );
    return new ProviderError(
      'RESIZE_FAILED',
      `${id}: in-place resize to ${type} failed (${reason}); put back at ${was ?? 'its type'} and in service`,
      { cause: failure },
    );
  }

  async #waitEc2(id: string, state: 'stopped' | 'running'): Promise<void> {
    const { ec2 } = this.#sdk!;
    const deadline = performance.now() + (this.#options.timeout ?? 1_800_000);
    for (;;) {
      const out = await this.#call('DescribeInstances', (abortSignal) =>
        this.#clients!.ec2.send(new ec2.DescribeInstancesCommand({ InstanceIds: [id] }), { abortSignal }),
      ).catch((err: unknown) => this.#passing(err));
      const name = out?.Reservations?.[0]?.Instances?.[0]?.State?.Name;
      if (name === state) return;
      if (performance.now() > deadline)
        throw new ProviderError('RESIZE_FAILED', `${id} not ${state} in time`);
      await delay(Math.min(this.#config.pollInterval, 2000));
    }
  }

  async #describeGroup() {
    const { as } = this.#sdk!;
    const out = await this.#call('DescribeAutoScalingGroups', (abortSignal) =>
      this.#clients!.autoScaling.send(
        new as.DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [this.#config.autoScalingGroup] }),
        { abortSignal },
      ),
    );
    const group = out.AutoScalingGroups?.[0];
    if (!group)
      throw new ProviderError('API_ERROR', `Auto Scaling group ${this.#config.autoScalingGroup} not found`);
    this.#gracePeriodMs = (group.HealthCheckGracePeriod ?? 0) * 1000;
    const lt =
      group.LaunchTemplate ?? group.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification;
    this.#launchTemplate = lt
      ? {
          ...(lt.LaunchTemplateId && { id: lt.LaunchTemplateId }),
          ...(lt.LaunchTemplateName && { name: lt.LaunchTemplateName }),
          ...(lt.Version && { version: lt.Version }),
        }
      : undefined;
    return group;
  }

  /** poll reads membership (group + private IPs) and emits `change` when anything differs. */
  #poll(): Promise<void> {
    this.#polling ??= this.#pollOnce().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  /**
   * pollFresh polls with a read sent after the call, for a decision to act on: `poll` joins one in
   * flight, whose read may predate what the caller has seen. That one's failure is reported by its
   * own caller; this one's is thrown.
   */
  async #pollFresh(): Promise<void> {
    await this.#polling?.catch(() => {});
    await this.#poll();
  }

  async #pollOnce(): Promise<void> {
    if (this.#closed) return;
    const { ec2 } = this.#sdk!;
    const epoch = this.#writes > 0 ? -1 : this.#writeEpoch;
    const group = await this.#describeGroup();
    if (epoch === this.#writeEpoch && this.#writes === 0) {
      this.#desiredReads = [...this.#desiredReads.slice(-1), group.DesiredCapacity ?? 0];
      this.#followDesired();
    }
    const now = this.#now();
    const members = new Map<string, Member>();
    // Already InService the first time this process sees them (a leader restarted, a standby
    // started): when they came InService is asked of the group's scaling activities below.
    const fresh: string[] = [];
    for (const i of group.Instances ?? []) {
      if (!i.InstanceId) continue;
      if (i.LifecycleState === 'InService' && !this.#inServiceSince.has(i.InstanceId)) {
        if (this.#members.has(i.InstanceId)) this.#inServiceSince.set(i.InstanceId, now);
        else fresh.push(i.InstanceId);
      }
      if (i.LifecycleState !== 'InService') this.#inServiceSince.delete(i.InstanceId);
      const known = this.#members.get(i.InstanceId);
      members.set(i.InstanceId, {
        id: i.InstanceId,
        lifecycleState: i.LifecycleState ?? 'Pending',
        healthStatus: i.HealthStatus ?? 'Healthy',
        protectedFromScaleIn: i.ProtectedFromScaleIn === true,
        ...(i.InstanceType && { instanceType: i.InstanceType }),
        // DescribeInstances comes after the group read: an instance terminated in between has no
        // IP there. Left out, the list mixed two moments (its replacement still Pending from the
        // group read, it gone), 1 ready of 2 InService in a resize. Its IP never changes: the list
        // stays the group as this read saw it, until the next poll.
        ...(known?.privateIp && { privateIp: known.privateIp }),
        launchedAt: known?.launchedAt ?? now,
      });
    }
    // By an instance-id filter, not InstanceIds: EC2 is eventually consistent with Auto Scaling, and
    // an instance the group lists right after its launch may not be found yet; asked for by id, the
    // whole call failed (InvalidInstanceID.NotFound), and with it the poll and a scale-out's wait.
    // Filtered, it is left out (no IP yet) until EC2 knows it. Batches of EC2_FILTER_VALUES ids;
    // pages followed with NextToken.
    const reservations: import('@aws-sdk/client-ec2').Reservation[] = [];
    const ids = [...members.keys()];
    for (let from = 0; from < ids.length; from += EC2_FILTER_VALUES) {
      let NextToken: string | undefined;
      do {
        const out = await this.#call('DescribeInstances', (abortSignal) =>
          this.#clients!.ec2.send(
            new ec2.DescribeInstancesCommand({
              Filters: [{ Name: 'instance-id', Values: ids.slice(from, from + EC2_FILTER_VALUES) }],
              ...(NextToken && { NextToken }),
            }),
            { abortSignal },
          ),
        );
        reservations.push(...(out.Reservations ?? []));
        NextToken = out.NextToken || undefined;
      } while (NextToken);
    }
    for (const reservation of reservations) {
      for (const inst of reservation.Instances ?? []) {
        const m = inst.InstanceId ? members.get(inst.InstanceId) : undefined;
        if (!m) continue;
        if (inst.PrivateIpAddress) m.privateIp = inst.PrivateIpAddress;
        if (inst.InstanceType) m.instanceType = inst.InstanceType;
        if (inst.LaunchTime) m.launchedAt = new Date(inst.LaunchTime).getTime();
      }
    }
    if (fresh.length > 0) {
      const entered = await this.#entryTimes(
        fresh.map((id) => ({ id, launchTime: members.get(id)!.launchedAt })),
        now,
      );
      for (const id of fresh) this.#inServiceSince.set(id, entered.get(id)?.since ?? now);
    }
    for (const id of this.#inServiceSince.keys()) if (!members.has(id)) this.#inServiceSince.delete(id);
    for (const id of this.#removing) if (!members.has(id)) this.#removing.delete(id);
    for (const m of members.values()) {
      const since = this.#inServiceSince.get(m.id);
      if (since !== undefined) m.inServiceSince = since;
    }
    this.#members = members;
    const key = JSON.stringify(this.instances().map((i) => [i.id, i.state, i.address, i.size?.instanceType]));
    if (key !== this.#lastKey) {
      this.#lastKey = key;
      this.emit('change');
    }
    if (this.#config.terminationHook !== undefined && this.#started !== undefined)
      this.#completeTerminations();
  }

  /**
   * completeTerminations lets the group go on with each member its termination lifecycle hook holds
   * in `Terminating:Wait` (an instance refresh's, the group's own scale-in, a health replacement):
   * drained first (it shows `draining` meanwhile, so it gets no new request), then
   * CompleteLifecycleAction CONTINUE. One this process terminated itself was drained already. A
   * failed completion is reported and tried again at the next poll (the hook's heartbeat timeout
   * lets it go on in the end regardless). Only while leading: a standby's drain would be another
   * balancer's.
   */
  #completeTerminations(): void {
    for (const id of this.#terminating.keys()) if (!this.#members.has(id)) this.#terminating.delete(id);
    const { as } = this.#sdk!;
    for (const m of this.#members.values()) {
      if (m.lifecycleState !== 'Terminating:Wait' || this.#terminating.has(m.id)) continue;
      const instance = this.instances().find((i) => i.id === m.id);
      const drained = this.#removing.has(m.id);
      // Started a microtask later, so a failure's delete (to retry at the next poll) follows the set.
      const completion = Promise.resolve().then(async () => {
        try {
          if (instance && !drained) await this.#options.drain?.(instance).catch(() => {});
          if (this.#closed) return;
          await this.#call('CompleteLifecycleAction', (abortSignal) =>
            this.#clients!.autoScaling.send(
              new as.CompleteLifecycleActionCommand({
                AutoScalingGroupName: this.#config.autoScalingGroup,
                LifecycleHookName: this.#config.terminationHook,
                InstanceId: m.id,
                LifecycleActionResult: 'CONTINUE',
              }),
              { abortSignal },
            ),
          );
          this.#logger.info(
            { group: this.#options.group, instance: m.id, hook: this.#config.terminationHook },
            `${this.#config.autoScalingGroup}: ${m.id} drained; termination goes on (CompleteLifecycleAction)`,
          );
        } catch (err) {
          this.#terminating.delete(m.id);
          if (!this.#closed) this.#report(err as Error);
        }
      });
      this.#terminating.set(m.id, completion);
    }
  }

  /**
   * entryTimes reads the group's scaling activities (DescribeScalingActivities, newest first, until
   * `activitySearchDone`) to tell since when instances first seen already InService have served.
   * A failed read is logged, and they count from now, as if just seen coming InService.
   */
  async #entryTimes(fresh: FreshInstance[], now: number): Promise<Map<string, EntryTime>> {
    const { as } = this.#sdk!;
    const activities: ScalingActivityView[] = [];
    let oldestStart = Number.POSITIVE_INFINITY;
    let NextToken: string | undefined;
    let pages = 0;
    try {
      for (;;) {
        const out = await this.#call('DescribeScalingActivities', (abortSignal) =>
          this.#clients!.autoScaling.send(
            new as.DescribeScalingActivitiesCommand({
              AutoScalingGroupName: this.#config.autoScalingGroup,
              MaxRecords: 100,
              ...(NextToken && { NextToken }),
            }),
            { abortSignal },
          ),
        );
        pages++;
        for (const a of out.Activities ?? []) {
          if (!a.StartTime) continue;
          const startTime = new Date(a.StartTime).getTime();
          oldestStart = Math.min(oldestStart, startTime);
          activities.push({
            description: a.Description ?? '',
            statusCode: a.StatusCode ?? '',
            startTime,
            ...(a.EndTime && { endTime: new Date(a.EndTime).getTime() }),
          });
        }
        NextToken = out.NextToken || undefined;
        if (
          activitySearchDone(fresh, activities, oldestStart, pages, ACTIVITY_PAGES, NextToken !== undefined)
        )
          break;
      }
    } catch (err) {
      this.#logger.warn(
        { group: this.#options.group, instances: fresh.map((i) => i.id), err },
        `${(err as Error).message}: instances already InService count from now, ready after instance_warmup`,
      );
      return new Map();
    }
    // Every page read: nothing older is kept (six weeks).
    const entered = entryTimes(
      fresh,
      activities,
      NextToken === undefined ? Number.NEGATIVE_INFINITY : oldestStart,
      now,
    );
    const list = [...entered].map(
      ([id, e]) => `${id} since ${new Date(e.since).toISOString()} (${e.reason})`,
    );
    this.#logger.info(
      { group: this.#options.group, pages, entered: Object.fromEntries(entered) },
      `already InService when first seen, from ${pages} page(s) of scaling activities: ${list.join(', ')}`,
    );
    return entered;
  }

  /**
   * waitFor polls until `predicate` holds (or the provider closes); after `timeout`, API_ERROR with
   * the message `what` gives then.
   */
  async #waitFor(predicate: () => boolean, what: () => string): Promise<void> {
    const deadline = performance.now() + (this.#options.timeout ?? 1_800_000);
    for (;;) {
      await this.#poll().catch((err: unknown) => this.#passing(err));
      if (predicate() || this.#closed) return;
      if (performance.now() > deadline)
        throw new ProviderError('API_ERROR', `${this.#config.autoScalingGroup}: ${what()}`);
      await delay(Math.min(this.#config.pollInterval, 1000));
    }
  }

  /**
   * passing lets a wait outlive a read that failed for a passing reason (throttled past the SDK's
   * own retries, a 5xx, a timeout or a reset, as the SDK's retry strategy classifies them): the
   * write was made and the group goes on without us, so failing the scale then would only make the
   * next tick repeat it. The failure is reported (and counted by `provider:<group>`); the wait
   * polls again until its deadline. Anything else (AccessDenied, a group deleted) is thrown.
   */
  #passing(err: unknown): undefined {
    const { retry } = this.#sdk!;
    const cause = (err as Error).cause as Parameters<typeof retry.isTransientError>[0] | undefined;
    const passing =
      cause !== undefined &&
      (retry.isThrottlingError(cause) || retry.isTransientError(cause) || retry.isServerError(cause));
    if (!passing) throw err;
    this.#report(err as Error);
    return undefined;
  }

  /**
   * call runs one API call, aborted after `requestTimeout` without an answer; a failure is API_ERROR
   * naming the group and the call. The SDK's own limit is a 15-minute socket idle timeout, retried
   * as a transient error: a paused endpoint or a half-open connection held the scale (and the tick
   * behind it) for up to three times that. A deadline, not AbortSignal.timeout, which Node 20 may
   * garbage-collect before it fires (src/deadline.ts).
   */
  async #call<T>(what: string, fn: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = this.#options.requestTimeout ?? 30_000;
    const limit = deadline(timeoutMs);
    try {
      const out = await callEngine(this.#config.autoScalingGroup, what, async () => {
        try {
          return await fn(limit.signal);
        } catch (err) {
          if (activityInProgress(err))
            throw new BusyError(
              `${this.#config.autoScalingGroup}: ${what} refused: a scaling activity of the group is in progress (ScalingActivityInProgress); nothing changed, try again once it ends`,
              {
                operation: `a scaling activity of ${this.#config.autoScalingGroup}`,
                retryAfterMs: Math.min(this.#config.pollInterval, 1000) * 2 ** ACTIVITY_ATTEMPTS,
                cause: err,
              },
            );
          if (!limit.timedOut) throw err;
          // Named TimeoutError, as the SDK names its own timeouts, so `#passing` lets a wait outlive it.
          const timeout = new Error(`no answer within ${timeoutMs / 1000} s (request timeout)`, {
            cause: err,
          });
          timeout.name = 'TimeoutError';
          throw timeout;
        }
      });
      this.emit('operation', { operation: what });
      return out;
    } catch (err) {
      // Refused while a scaling activity runs: "try again later", AWS working as it should, not a
      // failure of the provider; counted as one, a refresh's activities fired the provider alert.
      if (!(err instanceof BusyError)) this.emit('operation', { operation: what, error: err as Error });
      throw err;
    } finally {
      limit.clear();
    }
  }

  #report(err: Error): void {
    // A wait and the poll timer can share one failed poll: it is reported once.
    if (err === this.#reported) return;
    this.#reported = err;
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.#logger.error({ group: this.#options.group, err }, err.message);
  }
}
