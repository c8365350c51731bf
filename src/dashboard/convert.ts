import type { DecisionMark, GroupSummary } from './types.js';

/** StatusLike is the part of the controller's GroupStatus the dashboard shows. */
export interface StatusLike extends Omit<GroupSummary, 'instances'> {
  instances: {
    id: string;
    address: string;
    state: string;
    health: string;
    inFlight: number;
    startedAt: string;
    readyAt?: string;
  }[];
}

/** EntryLike is the part of a journal entry the dashboard shows. */
export interface EntryLike {
  seq: number;
  time: string;
  group: string;
  source: string;
  before: number;
  after: number;
  reasons: string[];
  message: string;
  count?: number;
  firstTime?: string;
  firstSeq?: number;
}

/** toGroupSummary keeps what the dashboard needs of a group's status (no pids, no metric inputs). */
export function toGroupSummary(status: StatusLike): GroupSummary {
  return {
    name: status.name,
    provider: status.provider,
    desired: status.desired,
    ready: status.ready,
    minInstances: status.minInstances,
    maxInstances: status.maxInstances,
    autoscaling: status.autoscaling,
    instances: status.instances.map((i) => ({
      id: i.id,
      address: i.address,
      state: i.state,
      health: i.health,
      inFlight: i.inFlight,
      startedAt: i.startedAt,
      ...(i.readyAt !== undefined && { readyAt: i.readyAt }),
    })),
  };
}

/** toDecisionMark turns a journal entry into a timeline mark. */
export function toDecisionMark(entry: EntryLike): DecisionMark {
  return {
    t: Date.parse(entry.time),
    seq: entry.seq,
    group: entry.group,
    source: entry.source,
    before: entry.before,
    after: entry.after,
    reasons: entry.reasons,
    message: entry.message,
    ...(entry.count !== undefined && { count: entry.count }),
    ...(entry.firstTime !== undefined && { firstT: Date.parse(entry.firstTime) }),
    ...(entry.firstSeq !== undefined && { firstSeq: entry.firstSeq }),
  };
}

/**
 * DECISIONS_PER_GROUP is how many of a group's newest decisions the dashboard keeps: the stream's
 * hello sends that many of each group, and the browser keeps that many as more arrive live.
 */
export const DECISIONS_PER_GROUP = 500;

/**
 * addDecision adds a mark that came live to a group's marks, oldest first, keeping the newest
 * `max`. A repeat (the journal moved the decision to the end with its count raised) replaces the
 * mark of its earlier count, found by `firstSeq`: the timeline shows the decision once, as the
 * journal does, not once per repeat. Pure.
 */
export function addDecision(marks: readonly DecisionMark[], mark: DecisionMark, max: number): DecisionMark[] {
  const kept =
    mark.firstSeq === undefined ? marks : marks.filter((m) => (m.firstSeq ?? m.seq) !== mark.firstSeq);
  return [...kept, mark].slice(-max);
}
