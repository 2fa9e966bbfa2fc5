// The JWKS: fetched at start, refreshed when its Cache-Control max-age
// runs out, and when a token names an unknown kid, at most once per
// cooldown (an attacker's random kids must not become a flood at jwtd).
// Each key keeps the algorithm its JWK pins: a token naming another one
// is refused, so `none` and HS/RS confusion cannot happen.
import { importJWK } from 'jose';

import { getWithRetry } from './http.js';

const ALGS = new Set(['EdDSA', 'ES256', 'RS256']);

/** The max-age of a Cache-Control value, in ms, within 1 s and 1 h. */
export function maxAgeMs(cacheControl) {
  const m = /(?:^|,)\s*max-age=(\d+)/.exec(cacheControl ?? '');
  if (!m) return null;
  return Math.min(Math.max(Number(m[1]), 1), 3600) * 1000;
}

export class KeySet {
  constructor({ url, cooldownMs, fetch: f = fetch }) {
    this.url = `${url}/.well-known/jwks.json`;
    this.cooldownMs = cooldownMs;
    this.fetch = f;
    /** @type {Map<string, {alg: string, key: CryptoKey}>} */
    this.keys = new Map();
    this.fetchedAt = 0;
    this.fetches = 0;
    this.timer = null;
    this.pending = null;
  }

  async refresh() {
    this.fetchedAt = Date.now();
    this.fetches += 1;
    const r = await getWithRetry(this.fetch, this.url);
    if (!r.ok) throw new Error(`JWKS answered ${r.status}`);
    const doc = await r.json();
    const keys = new Map();
    for (const jwk of doc.keys ?? []) {
      if (!ALGS.has(jwk.alg) || !jwk.kid || (jwk.use && jwk.use !== 'sig')) continue;
      try {
        keys.set(jwk.kid, { alg: jwk.alg, key: await importJWK(jwk, jwk.alg) });
      } catch {
        // An unusable key is left out: its tokens are refused (the safe side).
      }
    }
    this.keys = keys;
    return maxAgeMs(r.headers.get('cache-control')) ?? 60_000;
  }

  /** Refreshes now and then as the cache headers allow. */
  async start() {
    const age = await this.refresh();
    this.schedule(age);
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref?.();
  }

  async tick() {
    try {
      this.schedule(await this.refresh());
    } catch {
      this.schedule(Math.max(1000, this.cooldownMs));
    }
  }

  /** A token named an unknown kid: refetch, at most once per cooldown. */
  unknownKid() {
    if (this.pending) return;
    const wait = Math.max(0, this.fetchedAt + this.cooldownMs - Date.now());
    this.pending = setTimeout(async () => {
      try {
        this.schedule(await this.refresh());
      } catch {
        // The next scheduled refresh tries again.
      }
      this.pending = null;
    }, wait);
    this.pending.unref?.();
  }

  close() {
    clearTimeout(this.timer);
    clearTimeout(this.pending);
  }
}
