/** ReplacementInput is what `replacementDecision` looks at for one instance failing its health checks. */
export interface ReplacementInput {
  /** When its active health check went unhealthy (ms), or undefined while it is healthy. */
  readonly unhealthySince: number | undefined;
  readonly now: number;
  /** How long it may fail before it is replaced, ms; 0 = never replace. */
  readonly replaceAfter: number;
  /** Instances of the group in rotation (not draining). */
  readonly total: number;
  /** Of those, how many are usable: healthy and not ejected. */
  readonly usable: number;
  /** Below this percent of usable instances the balancer panics and uses all of them. */
  readonly panicThreshold: number;
  /** A replacement already runs in this group. */
  readonly replacing: boolean;
  /** The group's provider can replace an instance. */
  readonly canReplace: boolean;
}

/**
 * ReplacementReason is the stable reason token of a replacement decision:
 * - `Healthy`: nothing to do;
 * - `ReplaceDisabled`: `balancer.health.replace_after` is 0;
 * - `WithinGrace`: failing for less than `replace_after`;
 * - `HeldPanic`: too few instances are usable (the balancer is in panic), or none is: a failure of
 *   all of them points at something they share (a database, a network), which a new instance would
 *   fail just the same, and replacing would only add cold starts to an outage;
 * - `ReplacementInProgress`: one at a time per group;
 * - `ReplaceUnsupported`: the provider has no `replace`;
 * - `ReplaceUnhealthy`: replace it now.
 */
export type ReplacementReason =
  | 'Healthy'
  | 'ReplaceDisabled'
  | 'WithinGrace'
  | 'HeldPanic'
  | 'ReplacementInProgress'
  | 'ReplaceUnsupported'
  | 'ReplaceUnhealthy';

/** ReplacementDecision says whether to replace the instance now, and why. */
export interface ReplacementDecision {
  readonly replace: boolean;
  readonly reason: ReplacementReason;
}

/**
 * replacementDecision decides whether an instance that fails its active health checks is replaced
 * now: only after `replaceAfter`, never while the group is in panic or has no usable instance, one
 * replacement per group at a time, and only where the provider can start the new instance first.
 */
export function replacementDecision(input: ReplacementInput): ReplacementDecision {
  const hold = (reason: ReplacementReason): ReplacementDecision => ({ replace: false, reason });
  if (input.unhealthySince === undefined) return hold('Healthy');
  if (input.replaceAfter <= 0) return hold('ReplaceDisabled');
  if (input.now - input.unhealthySince < input.replaceAfter) return hold('WithinGrace');
  if (input.usable === 0 || input.usable * 100 < input.total * input.panicThreshold) return hold('HeldPanic');
  if (input.replacing) return hold('ReplacementInProgress');
  if (!input.canReplace) return hold('ReplaceUnsupported');
  return { replace: true, reason: 'ReplaceUnhealthy' };
}
