/** AlertSeverity says how urgent an alert is; sinks map it to their own levels. */
export type AlertSeverity = 'info' | 'warning' | 'critical';

/** AlertStatus is `firing` while the condition holds and `resolved` once it cleared. */
export type AlertStatus = 'firing' | 'resolved';

/** AlertInput is what a caller says when it fires an alert. */
export interface AlertInput {
  /** One line for people: `group web is crash-looping: 3 crashes in 60000 ms`. */
  summary: string;
  /** @defaultValue 'warning' */
  severity?: AlertSeverity;
  /** Group the alert is about, if any. */
  group?: string;
  /** Machine-readable facts (counts, ids, reason codes). */
  details?: Record<string, unknown>;
  /**
   * A condition of this controller's own host (its NGINX), not of the shared groups: sent by
   * every controller, an HA standby too, since no other controller sees it. @defaultValue false
   */
  local?: boolean;
  /**
   * A condition only the leader evaluates (its policy's decisions, its instances' crash loops, its
   * resizes, its writes to the engine): when this controller stops leading, the alert is forgotten
   * here, with no resolve, since nothing here evaluates it any more. The receivers keep it, and the
   * state store carries it to the next leader, which closes it (see `AlertManager.inherit`). Before,
   * a deposed leader kept it, and on leading again sent it once more as firing, after its successor
   * had resolved it: a `resize:<group>` then stayed open until the group's next resize.
   * @defaultValue false
   */
  leaderOnly?: boolean;
}

/**
 * Alert is one notification as every sink receives it. The same `key` identifies the firing and
 * its later resolve, so a receiver can pair them.
 */
export interface Alert {
  /** Stable identity of the condition, such as `crash-loop:web`. */
  key: string;
  status: AlertStatus;
  severity: AlertSeverity;
  summary: string;
  group?: string;
  details: Record<string, unknown>;
  /** ISO-8601 time the condition started. */
  startsAt: string;
  /** ISO-8601 time it cleared (resolved alerts only). */
  endsAt?: string;
  /** How many times it was fired while already firing (de-duplicated, not re-sent). */
  occurrences: number;
  /** Who sent it: `scaleplane`. */
  source: 'scaleplane';
}

/** AlertSink delivers alerts to one backend (webhook, Slack, Sentry). One file per backend. */
export interface AlertSink {
  /** Name for logs and errors, such as `webhook http://hooks.example/x`. */
  readonly name: string;
  /** send delivers one alert, retrying as the sink sees fit; rejects with AlertSinkError when it gives up. */
  send(alert: Alert): Promise<void>;
  /** close flushes and releases the sink; safe to call twice. */
  close?(): Promise<void>;
}
