/** The `code` of a failed `listen` (EADDRINUSE, EACCES, …), when there is one. */
export function listenErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return undefined;
}
