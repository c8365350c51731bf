/**
 * STOP_TIMEOUT_ENV is the variable a local instance gets with its group's `stop_timeout`, ms: how
 * long it has from SIGTERM to SIGKILL. The queue worker's `close()` reads it for its default wait,
 * so a worker scaled in hands its running jobs back before the SIGKILL instead of being killed
 * with them (each then counted a stall).
 */
export const STOP_TIMEOUT_ENV = 'SCALEPLANE_STOP_TIMEOUT_MS';
