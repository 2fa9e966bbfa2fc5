// GET with one retry on a network error: a pooled keep-alive connection
// that jwtd closed as idle (its idle_timeout) fails the first request on
// it, and every request here is idempotent.
export async function getWithRetry(f, url, init) {
  try {
    return await f(url, init);
  } catch (e) {
    if (init?.signal?.aborted) throw e;
    return f(url, init);
  }
}
