/**
 * Retries an assertion until it passes or the deadline expires, then throws its last error.
 * For waiting on asynchronous effects (a projection catching up): the wait ends as soon as the
 * condition holds, and the deadline only bounds a failure.
 */
export async function eventually<T>(
  assertion: () => Promise<T> | T,
  { timeoutMs = 15_000, intervalMs = 25 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
