// jwtd's wire contract, as this client keeps it: the answers a protected
// request gets when it is turned away, and the revocation item of the
// feed. A copy of jwtd-core's `wire` module; test/wire.test.js checks it
// against the contract file jwtd's build writes (tests/wire/contract.json).

/** No bearer credentials. */
export const NO_CREDENTIALS = Object.freeze({
  status: 401,
  error: 'unauthorized',
  error_description: 'missing bearer token',
  challenge: 'Bearer',
  retry_after: null,
});

/** The revocation view is stale: nothing vouches the token is not revoked. */
export const STALE = Object.freeze({
  status: 503,
  error: 'temporarily_unavailable',
  error_description: 'revocation view is stale; retry',
  challenge: null,
  retry_after: 1,
});

/** The fields of one revocation item, in the order jwtd writes them. */
export const REVOCATION_ITEM = Object.freeze(['kind', 'value', 'revoked_at', 'expires_at']);

/** The revocation kinds this client enforces. */
export const REVOCATION_KINDS = Object.freeze(['token', 'session', 'user', 'key']);
