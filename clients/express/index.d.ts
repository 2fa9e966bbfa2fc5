import type { RequestHandler } from 'express';

/** Options of a jwtd verifier. */
export interface VerifierOptions {
  /** jwtd's base URL. */
  url: string;
  /** Expected `iss` (default: `url`). */
  issuer?: string;
  /** Expected `aud` (default `jwtd`). */
  audience?: string;
  /** A registered client with the `feed` right (`jwtd client add NAME --feed`). */
  clientId?: string;
  clientSecret?: string;
  /** jwtd's admin token, instead of a client. */
  adminToken?: string;
  /** ms without news from jwtd before requests get 503 (default 5000). */
  maxStaleness?: number;
  /** Clock-skew allowance in seconds (default 30). */
  leeway?: number;
  /** At most one JWKS refetch per this many ms on unknown kids (default 10000). */
  jwksCooldown?: number;
}

/** The verified claims, as jwtd issues them. */
export interface JwtdClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  sid: string;
  preferred_username: string;
  client_id?: string;
  [claim: string]: unknown;
}

export type Verdict =
  | { ok: true; claims: JwtdClaims; kid: string }
  | { ok: false; status: 401 | 503; error: string; description: string };

export declare class Verifier {
  constructor(options: VerifierOptions);
  start(): Promise<void>;
  verify(token: string): Promise<Verdict>;
  isStale(): boolean;
  stats(): {
    stalenessMs: number | null;
    position: number;
    revocations: number;
    keys: number;
    jwksFetches: number;
    accepted: number;
    rejected: number;
    unavailable: number;
  };
  close(): void;
}

export interface JwtdMiddleware extends RequestHandler {
  verifier: Verifier;
  /** Resolves once the JWKS and the revocation snapshot are loaded. */
  ready: Promise<Verifier>;
  close(): void;
}

/** The middleware; verified claims go to `req.auth`. */
export declare function jwtd(
  options: (VerifierOptions & { credentialsRequired?: boolean }) | Verifier,
): JwtdMiddleware;

/** Guards one route when `jwtd({ credentialsRequired: false })` is app-wide. */
export declare function requireAuth(): RequestHandler;

declare global {
  namespace Express {
    interface Request {
      auth?: JwtdClaims;
    }
  }
}
