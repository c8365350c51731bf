import { type PostOptions, postJson } from './http.js';
import type { Alert, AlertSink } from './types.js';

/** WebhookSinkOptions configures a generic JSON webhook. */
export interface WebhookSinkOptions extends PostOptions {
  url: string;
}

/**
 * WebhookSink POSTs each alert as JSON, exactly the `Alert` object
 * (`{key, status, severity, summary, group, details, startsAt, endsAt, occurrences, source}`),
 * retrying with backoff.
 */
export class WebhookSink implements AlertSink {
  readonly name: string;
  readonly #options: WebhookSinkOptions;

  constructor(options: WebhookSinkOptions) {
    this.#options = options;
    this.name = `webhook ${new URL(options.url).origin}`;
  }

  /** send delivers one alert. */
  send(alert: Alert): Promise<void> {
    return postJson(this.name, this.#options.url, alert, this.#options);
  }
}
