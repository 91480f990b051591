/** Socket and SSH errors that say the link or the server went, not that the request was wrong. */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ECONNABORTED']);

/** Whether a low-level error means the link or the server went (worth retrying). */
export function isNetworkError(error: unknown): boolean {
  const code = (error as {code?: unknown} | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  const message = error instanceof Error ? error.message : '';
  return /Timed out while waiting for handshake|No response from server|Keepalive timeout|Connection lost before handshake|Not connected|Unexpected (end|close) event/i.test(message);
}

