import { type PostOptions, postJson } from './http.js';
import type { Alert, AlertSink } from './types.js';

/** SlackSinkOptions configures a Slack incoming webhook (or anything that speaks its format). */
export interface SlackSinkOptions extends PostOptions {
  url: string;
  /** Overrides the webhook's default channel, where the receiver allows it. */
  channel?: string;
}

const COLORS = { critical: '#d03b3b', warning: '#e8a33d', info: '#3b82d0', resolved: '#2eb67d' } as const;

/**
 * slackText escapes what Slack reads as markup in message text: `<…>` is a link or a mention
 * (`<!channel>` pings everyone), `&` starts an entity. Slack's formatting docs ask for exactly
 * these three as `&amp;`, `&lt;`, `&gt;`; it shows them as typed.
 */
export function slackText(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** slackMessage renders an alert as a Slack message: a text line plus a colored attachment of details. */
export function slackMessage(alert: Alert, channel?: string): Record<string, unknown> {
  const icon =
    alert.status === 'resolved'
      ? ':white_check_mark:'
      : alert.severity === 'critical'
        ? ':rotating_light:'
        : ':warning:';
  const state = alert.status === 'resolved' ? 'RESOLVED' : alert.severity.toUpperCase();
  const fields = Object.entries(alert.details).map(([title, value]) => ({
    title,
    value: slackText(typeof value === 'string' ? value : JSON.stringify(value)),
    short: true,
  }));
  return {
    ...(channel !== undefined && { channel }),
    // Summaries quote what others wrote (an engine's error, a job's error, an instance address):
    // unescaped, an error text with `<!channel>` paged the whole channel.
    text: `${icon} [${state}] ${slackText(alert.summary)}`,
    attachments: [
      {
        color: alert.status === 'resolved' ? COLORS.resolved : COLORS[alert.severity],
        fallback: slackText(alert.summary),
        fields: [
          ...(alert.group !== undefined
            ? [{ title: 'group', value: slackText(alert.group), short: true }]
            : []),
          { title: 'key', value: slackText(alert.key), short: true },
          ...fields,
        ],
        footer: 'scaleplane',
        ts: Math.floor(Date.parse(alert.endsAt ?? alert.startsAt) / 1000),
      },
    ],
  };
}

/** SlackSink posts alerts to a Slack-compatible incoming webhook, retrying with backoff. */
export class SlackSink implements AlertSink {
  readonly name: string;
  readonly #options: SlackSinkOptions;

  constructor(options: SlackSinkOptions) {
    this.#options = options;
    this.name = `slack ${new URL(options.url).origin}`;
  }

  /** send delivers one alert. */
  send(alert: Alert): Promise<void> {
    return postJson(this.name, this.#options.url, slackMessage(alert, this.#options.channel), this.#options);
  }
}
