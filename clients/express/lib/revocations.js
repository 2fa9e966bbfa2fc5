// The revocation index, with jwtd's semantics (SPEC §4, jwtd-core's
// RevocationIndex): a token (jti), a session (sid), a user cut-off (tokens
// issued strictly before it: a user who logs in again in the very second
// of a global logout keeps the new tokens), a key (kid, never forgotten:
// whoever holds a revoked key can sign any exp).

/** @typedef {{kind: string, value: string, revoked_at: number, expires_at: number}} Revocation */

export class RevocationIndex {
  constructor() {
    this.tokens = new Map();
    this.sessions = new Map();
    this.users = new Map();
    this.keys = new Set();
  }

  /** Applies one revocation (idempotent). Unknown kinds are refused. */
  insert(/** @type {Revocation} */ r) {
    switch (r.kind) {
      case 'token':
        this.tokens.set(r.value, Math.max(this.tokens.get(r.value) ?? 0, r.expires_at));
        return true;
      case 'session':
        this.sessions.set(r.value, Math.max(this.sessions.get(r.value) ?? 0, r.expires_at));
        return true;
      case 'user': {
        const old = this.users.get(r.value);
        this.users.set(r.value, {
          cutoff: Math.max(old?.cutoff ?? -Infinity, r.revoked_at),
          expiresAt: Math.max(old?.expiresAt ?? 0, r.expires_at),
        });
        return true;
      }
      case 'key':
        this.keys.add(r.value);
        return true;
      default:
        return false;
    }
  }

  /** Which revocation rejects a verified token, if any: the widest. */
  check(kid, claims) {
    if (this.keys.has(kid)) return 'key';
    const u = this.users.get(claims.sub);
    if (u && claims.iat < u.cutoff) return 'user';
    if (this.sessions.has(claims.sid)) return 'session';
    if (this.tokens.has(claims.jti)) return 'token';
    return null;
  }

  /** Drops token, session and user entries past their expiry. */
  sweep(nowSecs) {
    let n = 0;
    for (const m of [this.tokens, this.sessions]) {
      for (const [k, exp] of m) if (exp < nowSecs) { m.delete(k); n += 1; }
    }
    for (const [k, u] of this.users) if (u.expiresAt < nowSecs) { this.users.delete(k); n += 1; }
    return n;
  }

  get size() {
    return this.tokens.size + this.sessions.size + this.users.size + this.keys.size;
  }
}
