import { EventEmitter } from 'node:events';
import { ProviderError } from './errors.js';
import type {
  AutoscalerSpec,
  EngineScaling,
  Instance,
  InstanceSize,
  PodUsage,
  Provider,
  ProviderEvents,
  ReplaceResult,
  ResizeOptions,
} from './types.js';

/**
 * FenceCheck resolves when `token` is still the lease's current fencing token and rejects
 * otherwise; the lease backends implement it with one round trip to Redis or PostgreSQL.
 */
export type FenceCheck = (token: number) => Promise<boolean>;

/**
 * FencedProvider guards every change a provider makes (scaleTo, resize) with the leader's fencing
 * token: before the call reaches the engine, the token is checked against the lease store, so a
 * controller that was paused past its lease (GC, SIGSTOP, a partition) and still believes it leads
 * cannot act. Reads pass straight through.
 */
export class FencedProvider extends EventEmitter<ProviderEvents> implements Provider {
  readonly kind: string;
  readonly #inner: Provider;
  readonly #check: FenceCheck;
  #token: number | undefined;

  readonly readPodUsage: (() => Promise<PodUsage[]>) | undefined;

  constructor(inner: Provider, check: FenceCheck) {
    super();
    this.#inner = inner;
    this.#check = check;
    this.kind = inner.kind;
    // Passes through (it reads, writes nothing), and only when the inner provider measures its pods:
    // its presence is what makes a group's cpu and memory read from it.
    this.readPodUsage = inner.readPodUsage?.bind(inner);
    // `operation` too: the provider alert and the provider-errors metric listen to this wrapper.
    for (const event of ['change', 'crash', 'crashLoop', 'error', 'operation'] as const) {
      inner.on(event, (...args: unknown[]) =>
        (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
      );
    }
  }

  /** inner is the wrapped provider. */
  get inner(): Provider {
    return this.#inner;
  }

  /** setToken arms the fence with the token of the lease just won (undefined: not leading). */
  setToken(token: number | undefined): void {
    this.#token = token;
  }

  /** token is the fencing token changes are made under, if leading. */
  get token(): number | undefined {
    return this.#token;
  }

  /** start passes through. */
  async start(): Promise<void> {
    await this.#inner.start?.();
  }

  /** observe passes through: it only reads, so a standby (no token) may. */
  async observe(): Promise<void> {
    if (!this.#inner.observe)
      throw new ProviderError('UNSUPPORTED', `the ${this.kind} provider cannot observe read-only`);
    await this.#inner.observe();
  }

  /** instances passes through. */
  instances(): readonly Instance[] {
    return this.#inner.instances();
  }

  /** desired passes through. */
  desired(): number {
    return this.#inner.desired();
  }

  /** size passes through. */
  size(): InstanceSize | undefined {
    return this.#inner.size?.();
  }

  /**
   * setBounds passes through: the inner provider keeps the bounds whether or not this controller
   * leads, and asks the fence itself before it writes them (see `assertLeading`).
   */
  async setBounds(min: number, max: number): Promise<void> {
    await this.#inner.setBounds?.(min, max);
  }

  /** setAutoscaler passes through, as `setBounds` does (the inner provider asks the fence). */
  async setAutoscaler(spec: AutoscalerSpec): Promise<void> {
    await this.#inner.setAutoscaler?.(spec);
  }

  /** scaleTo checks the fencing token, then scales. Rejects FENCED when another controller leads. */
  async scaleTo(n: number): Promise<void> {
    await this.#fence('scaleTo');
    return this.#inner.scaleTo(n);
  }

  /**
   * resizes passes through, so the API refuses a knob the wrapped provider lacks (400). Missing
   * here, every group under a lease went unchecked: an instance type on a local group was 202.
   */
  get resizes(): readonly (keyof InstanceSize)[] | undefined {
    return this.#inner.resizes;
  }

  /** resizeRefusal passes through: it changes nothing. */
  resizeRefusal(size: InstanceSize): string | undefined {
    return this.#inner.resizeRefusal?.(size);
  }

  /** savesSize passes through. */
  get savesSize(): boolean {
    return this.#inner.savesSize === true;
  }

  /** sizeWrite passes through. */
  get sizeWrite(): string | undefined {
    return this.#inner.sizeWrite;
  }

  /** resize checks the fencing token, then resizes. */
  async resize(size: InstanceSize, options?: ResizeOptions): Promise<void> {
    if (!this.#inner.resize)
      throw new ProviderError('UNSUPPORTED', `the ${this.kind} provider cannot resize`);
    await this.#fence('resize');
    return this.#inner.resize(size, options);
  }

  /**
   * resumedResize passes through: the inner provider asks the fence itself before each write of the
   * roll it resumes (see `assertLeading`).
   */
  resumedResize(): Promise<void> | undefined {
    return this.#inner.resumedResize?.();
  }

  /** returnToService passes through: it writes nothing to the engine, only lists the instance. */
  async returnToService(id: string): Promise<boolean> {
    return (await this.#inner.returnToService?.(id)) ?? false;
  }

  /** replace checks the fencing token, then replaces the instance. */
  async replace(id: string): Promise<ReplaceResult> {
    if (!this.#inner.replace)
      throw new ProviderError('UNSUPPORTED', `the ${this.kind} provider cannot replace an instance`);
    await this.#fence('replace');
    return this.#inner.replace(id);
  }

  /** release passes through: handing instances over is what a deposed leader must still do. */
  async release(): Promise<void> {
    await this.#inner.release?.();
  }

  /** autoscaled passes through (`mode: hpa`: the engine runs the loop). */
  get autoscaled(): boolean {
    return (this.#inner as { autoscaled?: boolean }).autoscaled === true;
  }

  /** explainScaling passes through: it reads, writes nothing. */
  explainScaling(before: number, after: number): EngineScaling | undefined {
    return this.#inner.explainScaling?.(before, after);
  }

  /**
   * assertLeading resolves when this controller's fencing token is still the lease's and rejects
   * FENCED otherwise; the inner provider calls it before each change of its own (a local crash
   * replacement, each write of a Kubernetes StatefulSet's roll).
   */
  assertLeading(what: string): Promise<void> {
    return this.#fence(what);
  }

  /** close passes through (closing is always allowed: it only stops what this process runs). */
  close(): Promise<void> {
    return this.#inner.close();
  }

  async #fence(what: string): Promise<void> {
    const token = this.#token;
    let valid = false;
    let cause: unknown;
    if (token !== undefined) {
      try {
        valid = await this.#check(token);
      } catch (err) {
        cause = err;
      }
    }
    if (!valid) {
      throw new ProviderError(
        'FENCED',
        `${what} refused: fencing token ${token ?? 'none'} is not the lease's`,
        {
          ...(cause !== undefined && { cause }),
        },
      );
    }
  }
}
