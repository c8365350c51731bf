/**
 * Every JetStream API call (a publish's PubAck, stream and consumer info) is a request whose reply
 * comes back on the connection's reply inbox, `<inboxPrefix>.<nuid>.*` (`_INBOX` unless the
 * connection options set `inboxPrefix`). A user who may not subscribe to it gets
 * `Permissions Violation for Subscription to "<prefix>.<nuid>.*"`, which the client hands to the
 * waiting requests as a PermissionViolationError (operation `subscription`), the cause of a
 * RequestError. Its text names a subject of the client's making that no permission names, so it is
 * told here as what the operator must grant: subscribe permission on `<prefix>.>`.
 *
 * Recognised by the error's name and fields, not its class: the metric source loads the NATS
 * client lazily, and this module is read with it.
 */

/** The client's reply inbox prefix when the connection options set none. */
export const DEFAULT_INBOX_PREFIX = '_INBOX';

/** DeniedInbox is the refused subscription: the subject as the server named it. */
export interface DeniedInbox {
  subject: string;
  message: string;
}

/**
 * deniedInbox finds, in `error` or its chain of causes, the server's refusal of a subscription to
 * the reply inbox under `prefix`; undefined for anything else (a refused publish included).
 */
export function deniedInbox(error: unknown, prefix: string = DEFAULT_INBOX_PREFIX): DeniedInbox | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { operation, subject } = e as { operation?: unknown; subject?: unknown };
    if (
      e.name === 'PermissionViolationError' &&
      operation === 'subscription' &&
      typeof subject === 'string' &&
      subject.startsWith(`${prefix}.`)
    )
      return { subject, message: e.message };
  }
  return undefined;
}

/** deniedInboxText says what was refused and what permission the user needs, for an error message. */
export function deniedInboxText(denied: DeniedInbox, prefix: string = DEFAULT_INBOX_PREFIX): string {
  return `the server refused this user a subscription to the reply inbox ${denied.subject}, so no JetStream reply can come back: the user needs subscribe permission on ${prefix}.> (${denied.message})`;
}
