import { readFileSync } from 'node:fs';
import { type ProcStat, parseProcStat } from './cpu.js';

/**
 * LeaderFacts is what the provider knows of an instance's leader, whose pid is also the id of the
 * instance's process group.
 */
export interface LeaderFacts {
  /**
   * We reaped it (its ChildProcess has an exit code or signal), or cannot know (an adopted leader
   * is not our child). An unreaped child keeps its pid, a zombie at worst, until we reap it.
   */
  reaped: boolean;
  /** Its `/proc/<pid>/stat` start time as recorded (an adopted instance's record); undefined if none. */
  startTime: number | undefined;
}

/** GroupOwnerReason says why a pgid does or does not still name the instance's group. */
export type GroupOwnerReason = 'leader-unreaped' | 'pid-free' | 'leader-alive' | 'pid-reused';

/**
 * groupOwner decides whether the instance's pgid still names its own process group, from what is
 * known of its leader and `holder`, the process that has that pid now (its `/proc` stat, a zombie
 * included; undefined when there is none). Signalling `-pgid` is safe only when it does: once the
 * leader is reaped and the group empty, the kernel may give the pid to any new process, and one
 * that leads a group of its own (another instance, anything started with setsid) would have been
 * SIGTERMed, then SIGKILLed, by our stop. While any process of the old group remains, the kernel
 * reuses neither its pid nor its group id, so "no process has that pid" means the group, if any
 * of it is left, is still ours.
 */
export function groupOwner(
  leader: LeaderFacts,
  holder: Pick<ProcStat, 'starttime'> | undefined,
): { ours: boolean; reason: GroupOwnerReason } {
  if (!leader.reaped) return { ours: true, reason: 'leader-unreaped' };
  if (holder === undefined) return { ours: true, reason: 'pid-free' };
  if (leader.startTime !== undefined && holder.starttime === leader.startTime)
    return { ours: true, reason: 'leader-alive' };
  return { ours: false, reason: 'pid-reused' };
}

/** readProcStat is `/proc/<pid>/stat` parsed (a zombie too), or undefined when no process has the pid. */
export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`${procRoot}/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}
