import { type InheritFacts, judgeInherited } from './inherit.js';
import type { AlertManager } from './manager.js';
import type { Alert } from './types.js';

/** OpenAlertStore is where the leader keeps the alerts the receivers show firing (the state store). */
export interface OpenAlertStore {
  openAlerts(): Promise<Alert[]>;
  putAlert(key: string, alert: Alert | undefined): Promise<void>;
}

/**
 * keepOpenAlerts records, while `leading()`, each shared alert the sinks were sent as firing, and
 * removes it once its resolve went out, one write after another. A write that fails goes to
 * `onError` (the alert is then not resolved by a successor if this controller dies; nothing else).
 */
export function keepOpenAlerts(
  alerts: AlertManager,
  store: OpenAlertStore,
  leading: () => boolean,
  onError: (err: unknown, alert: Alert) => void,
): void {
  let chain: Promise<void> = Promise.resolve();
  alerts.on('notified', (alert) => {
    if (!leading()) return;
    chain = chain
      .then(() => store.putAlert(alert.key, alert.status === 'firing' ? alert : undefined))
      .catch((err: unknown) => onError(err, alert));
  });
}

/**
 * inheritOpenAlerts reads the alerts a previous leader left open and hands them to `alerts`, which
 * resolves those that no longer hold on this controller's facts (see AlertManager.inherit).
 */
export async function inheritOpenAlerts(
  alerts: AlertManager,
  store: OpenAlertStore,
  facts: InheritFacts,
): Promise<void> {
  const open = await store.openAlerts();
  alerts.inherit(open, (alert) => judgeInherited(alert, facts));
}
