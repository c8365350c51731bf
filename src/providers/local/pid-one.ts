/**
 * pidOneWarning says what running as PID 1 costs the local provider, undefined for any other pid.
 * An instance's processes that lose their parent (a helper started as `(helper &)`, a daemon's
 * first fork) are re-parented to PID 1, which must reap them. Node reaps only its own children, so
 * under a container runtime that starts Scaleplane as PID 1 they stay zombies for good (10 after
 * 1 s from two instances that each orphan 5 short `sleep`s), until the container's pid limit
 * refuses every fork. An init in front (docker run --init, tini, dumb-init) reaps them.
 */
export function pidOneWarning(pid: number): string | undefined {
  if (pid !== 1) return undefined;
  return 'Scaleplane runs as PID 1: processes that instances leave behind (orphans) are re-parented to it and never reaped (Node reaps only its own children), so they pile up as zombies; run it under an init: docker run --init, tini or dumb-init as the entrypoint';
}
