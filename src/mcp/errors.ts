/** McpErrorCode lists the stable codes of the MCP module's errors. */
export type McpErrorCode =
  | 'MCP_API_UNREACHABLE'
  | 'MCP_API_ERROR'
  | 'MCP_NO_TOKEN'
  /** The tool call was cancelled (notifications/cancelled, or its client gone) during a control API call. */
  | 'MCP_CALL_CANCELLED';

/** McpError is the base of errors the MCP server raises, each with a stable `code`. */
export class McpError extends Error {
  readonly code: McpErrorCode;
  /** HTTP status of the control API's answer, when there was one. */
  readonly status: number | undefined;
  /**
   * The control API's own error body (`{error, code?, …}`, e.g. `inEffect` of a change not stored),
   * when it answered one: its stable `code` is what a caller branches on, never the message.
   */
  readonly answer: Readonly<Record<string, unknown>> | undefined;
  constructor(
    code: McpErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number; answer?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = 'McpError';
    this.code = code;
    this.status = options?.status;
    this.answer = options?.answer;
  }
}
