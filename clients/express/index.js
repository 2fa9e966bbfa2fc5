// jwtd-express: Express middleware that verifies jwtd's access tokens
// in-process and enforces jwtd logouts within milliseconds.
//
//   import { jwtd } from 'jwtd-express';
//   app.use(jwtd({ url: 'http://127.0.0.1:8080', clientId, clientSecret }));
//   app.get('/protected', (req, res) => res.json({ user: req.auth.preferred_username }));
//
// Answers exactly as jwtd does: 401 with a bare `WWW-Authenticate: Bearer`
// without credentials, 401 with the RFC 6750 challenge for a refused token,
// 503 `temporarily_unavailable` (Retry-After: 1) when nothing has come from
// jwtd for `maxStaleness`, recovering by itself.
import { Verifier } from './lib/verifier.js';
import { NO_CREDENTIALS, STALE } from './lib/wire.js';

export { Verifier } from './lib/verifier.js';
export { RevocationIndex } from './lib/revocations.js';

function send(res, status, error, description, headers = {}) {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status).json({ error, error_description: description });
}

function unauthorized(res) {
  const d = NO_CREDENTIALS;
  send(res, d.status, d.error, d.error_description, { 'WWW-Authenticate': d.challenge });
}

function refused(res, r) {
  if (r.status === STALE.status) {
    send(res, STALE.status, r.error, r.description, { 'Retry-After': String(STALE.retry_after) });
  } else {
    send(res, 401, r.error, r.description, {
      'WWW-Authenticate': `Bearer error="invalid_token", error_description="${r.description}"`,
    });
  }
}

/** The bearer token of a request: a string, null (none), or false (malformed). */
function bearer(req) {
  const h = req.headers.authorization;
  if (h === undefined) return null;
  const m = /^bearer(?: +(.*))?$/i.exec(h.trim());
  if (!m) return null;
  return m[1] ? m[1].trim() : false;
}

/**
 * The middleware. Options as for {@link Verifier}, plus `credentialsRequired`
 * (default true; false lets requests without a token through, with no
 * `req.auth`, for {@link requireAuth} to guard single routes).
 */
export function jwtd(options) {
  const verifier = options instanceof Verifier ? options : new Verifier(options);
  const required = options.credentialsRequired ?? true;
  const ready = startUntilReady(verifier);
  // It rejects only once closed; nobody need await it, and an unawaited
  // rejection must not end the process.
  ready.catch(() => {});
  const middleware = async (req, res, next) => {
    try {
      const token = bearer(req);
      if (token === null) return required ? unauthorized(res) : next();
      if (token === false) {
        return refused(res, { status: 401, error: 'invalid_token', description: 'malformed token' });
      }
      const r = await verifier.verify(token);
      if (!r.ok) return refused(res, r);
      req.auth = r.claims;
      return next();
    } catch (e) {
      return next(e);
    }
  };
  middleware.verifier = verifier;
  middleware.ready = ready;
  middleware.close = () => verifier.close();
  return middleware;
}

/** Starts the verifier, retrying (jwtd may come up after the service). */
async function startUntilReady(verifier) {
  let backoff = 100;
  for (;;) {
    try {
      await verifier.start();
      return verifier;
    } catch (e) {
      if (verifier.feed.closed) throw e;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 2000);
    }
  }
}

/** Guards one route: 401 unless `jwtd({credentialsRequired: false})` verified a token. */
export function requireAuth() {
  return (req, res, next) => (req.auth ? next() : unauthorized(res));
}
