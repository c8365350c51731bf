import type { EventEmitter } from 'node:events';

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
}

/** DrainHook is called before an instance is stopped; it resolves when no request is in flight. */
export type DrainHook = (instance: Instance) => Promise<void>;

/**
 * ProviderEvents are what a provider reports:
 * - `change`: the instance list or a state changed (listeners re-read `instances()`),
 * - `crash`: an instance exited on its own,
 * - `crashLoop`: crashes came faster than the limit; replacement is paused until the next scaleTo,
 * - `error`: a background failure (never thrown to the caller).
 */
export interface ProviderEvents {
  change: [];
  crash: [instance: Instance, detail: { code: number | null; signal: NodeJS.Signals | null }];
  crashLoop: [detail: { group: string; crashes: number; windowMs: number }];
  error: [err: Error];
}

/** Provider runs the instances of one group on some engine (local processes, Kubernetes, AWS). */
export interface Provider extends EventEmitter<ProviderEvents> {
  readonly kind: string;
  /** Every instance that is not yet stopped, oldest first. */
  instances(): readonly Instance[];
  /**
   * The count the provider is converging to. Counts starting and ready instances,
   * not draining or stopping ones.
   */
  desired(): number;
  /**
   * scaleTo sets the desired count and resolves when it is reached: new instances ready (or failed)
   * and removed ones drained and stopped. A later call supersedes an earlier one.
   */
  scaleTo(n: number): Promise<void>;
  /** close stops every instance (drained) and releases everything; safe to call twice. */
  close(): Promise<void>;
}
