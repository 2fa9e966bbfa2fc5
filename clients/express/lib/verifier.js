// The verifier: jwtd's check, in-process. Keys from the JWKS, revocations
// from the feed; `verify` never waits on the network. It answers what
// `GET /protected` would (SPEC §3): the same refusals with the same
// descriptions, and 503 once nothing has come from jwtd for maxStaleness.
import { decodeProtectedHeader, jwtVerify } from 'jose';

import { Feed } from './feed.js';
import { KeySet } from './keys.js';
import { RevocationIndex } from './revocations.js';
import { STALE as WIRE_STALE } from './wire.js';

const MAX_TOKEN = 8 * 1024;
/** Verified tokens kept, so a reused token skips its signature check. */
const CACHE_ENTRIES = 50_000;
const REQUIRED = ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'sid', 'preferred_username'];

/** A refusal: status, RFC 6749/6750 error code and description. */
const refuse = (description) => ({ ok: false, status: 401, error: 'invalid_token', description });
const STALE = {
  ok: false,
  status: WIRE_STALE.status,
  error: WIRE_STALE.error,
  description: WIRE_STALE.error_description,
};

/** jose's verdicts, worded as jwtd words them. */
function describe(e) {
  switch (e?.code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'invalid signature';
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'iss') return 'wrong issuer';
      if (e.claim === 'aud') return 'wrong audience';
      if (e.claim === 'nbf') return 'token not yet valid';
      return 'malformed token';
    default:
      return 'malformed token';
  }
}

export class Verifier {
  /**
   * @param {object} o
   * @param {string} o.url jwtd's base URL
   * @param {string} [o.issuer] expected iss (default: the URL)
   * @param {string} [o.audience] expected aud (default `jwtd`)
   * @param {string} [o.clientId] a client with the `feed` right
   * @param {string} [o.clientSecret]
   * @param {string} [o.adminToken] instead of a client
   * @param {number} [o.maxStaleness] ms (default 5000)
   * @param {number} [o.leeway] s (default 30)
   * @param {number} [o.jwksCooldown] ms (default 10000)
   */
  constructor(o) {
    if (!o?.url) throw new TypeError('jwtd-express: `url` is required');
    this.url = o.url.replace(/\/+$/, '');
    this.issuer = o.issuer ?? this.url;
    this.audience = o.audience ?? 'jwtd';
    this.maxStaleness = o.maxStaleness ?? 5000;
    this.leeway = o.leeway ?? 30;
    let authorization = null;
    if (o.clientId && o.clientSecret) {
      const basic = `${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`;
      authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    } else if (o.adminToken) {
      authorization = `Bearer ${o.adminToken}`;
    }
    this.index = new RevocationIndex();
    this.keys = new KeySet({ url: this.url, cooldownMs: o.jwksCooldown ?? 10_000 });
    this.feed = new Feed({ url: this.url, authorization, index: this.index });
    this.started = false;
    /** token -> {claims, kid, key}: signature checked against `key`. */
    this.cache = new Map();
    this.counts = { accepted: 0, rejected: 0, unavailable: 0 };
    this.sweeper = null;
  }

  /** Loads the JWKS and the snapshot, then follows both. Resolves once ready. */
  async start() {
    await this.keys.start();
    await this.feed.loadSnapshot();
    this.started = true;
    this.feed.follow();
    this.sweeper = setInterval(() => this.index.sweep(Date.now() / 1000), 30_000);
    this.sweeper.unref?.();
  }

  /** Whether nothing has come from jwtd for maxStaleness. */
  isStale() {
    return !this.started || Date.now() - this.feed.freshAt > this.maxStaleness;
  }

  /**
   * Verifies a token as jwtd would.
   * @returns {Promise<{ok: true, claims: object, kid: string} | {ok: false, status: number, error: string, description: string}>}
   */
  async verify(token) {
    const r = await this.check(token);
    if (r.ok) this.counts.accepted += 1;
    else if (r.status === 503) this.counts.unavailable += 1;
    else this.counts.rejected += 1;
    return r;
  }

  async check(token) {
    if (this.isStale()) return STALE;
    if (token.length > MAX_TOKEN) return refuse('token too large');
    const hit = this.cache.get(token);
    // A hit skips only the signature check: time, key and revocation are
    // checked again, and an entry whose key left the JWKS is no hit.
    if (hit && this.keys.keys.get(hit.kid)?.key === hit.key) {
      const now = Date.now() / 1000;
      if (hit.claims.exp + this.leeway <= now) return refuse('token expired');
      if (hit.claims.nbf > now + this.leeway) return refuse('token not yet valid');
      if (this.index.check(hit.kid, hit.claims)) return refuse('token revoked');
      return { ok: true, claims: hit.claims, kid: hit.kid };
    }
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return refuse('malformed token');
    }
    if (token.split('.').length !== 3) return refuse('malformed token');
    const key = typeof header.kid === 'string' ? this.keys.keys.get(header.kid) : undefined;
    if (!key) {
      if (typeof header.kid === 'string') this.keys.unknownKid();
      return refuse('unknown signing key');
    }
    if (header.alg !== key.alg) return refuse('algorithm not allowed');
    if (header.crit !== undefined) return refuse('unsupported critical header');
    const typ = String(header.typ ?? '').toLowerCase().replace(/^application\//, '');
    if (typ !== 'at+jwt') return refuse('not an access token');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: this.issuer,
        audience: this.audience,
        clockTolerance: this.leeway,
        requiredClaims: REQUIRED,
      }));
    } catch (e) {
      return refuse(describe(e));
    }
    if (payload.iat > Date.now() / 1000 + this.leeway) return refuse('token issued in the future');
    if (this.index.check(header.kid, payload)) return refuse('token revoked');
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value);
    this.cache.set(token, { claims: payload, kid: header.kid, key: key.key });
    return { ok: true, claims: payload, kid: header.kid };
  }

  /** Counters and gauges for metrics. */
  stats() {
    return {
      stalenessMs: this.started ? Date.now() - this.feed.freshAt : null,
      position: this.feed.position,
      revocations: this.index.size,
      keys: this.keys.keys.size,
      jwksFetches: this.keys.fetches,
      ...this.counts,
    };
  }

  close() {
    this.cache.clear();
    this.feed.close();
    this.keys.close();
    clearInterval(this.sweeper);
  }
}
