// jwtd through the libraries resource servers and clients use (issue #11):
// discovery (RFC 8414) -> refresh at the token endpoint with client
// credentials (openid-client) -> introspection (RFC 7662) -> revocation
// (RFC 7009) -> RFC 9068 validation (oauth4webapi) -> a key rotation seen
// through a cached remote JWKS without an unknown kid (jose).
//
// Run by tests/it/standard_clients.rs against a live jwtd:
//   JWTD_URL=http://127.0.0.1:PORT JWTD_ADMIN_TOKEN=... node standard_clients.mjs
// The JWTD_URL is jwtd's issuer. Exit 0 when every step held.
import assert from 'node:assert/strict';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';

const base = process.env.JWTD_URL;
const admin = process.env.JWTD_ADMIN_TOKEN;
assert.ok(base && admin, 'JWTD_URL and JWTD_ADMIN_TOKEN are required');
const issuer = new URL(base);
const password = 'correct horse battery';

/** POSTs JSON to jwtd (its own endpoints: register, login, admin). */
async function post(path, body, headers = {}) {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : {};
}
const asAdmin = { authorization: `Bearer ${admin}` };
const kidOf = (jwt) => jose.decodeProtectedHeader(jwt).kid;

// A registered client, and a user logged in through it.
const { client_id, client_secret } = await post(
  '/admin/clients', { name: 'node interop', introspect: true }, asAdmin);
await post('/register', { username: 'node-user', password });
const login = await post('/login', { username: 'node-user', password, client_id, client_secret });

// openid-client: discovery, then refresh with client_secret_basic.
const config = await client.discovery(
  issuer, client_id, client_secret, client.ClientSecretBasic(client_secret),
  { algorithm: 'oauth2', execute: [client.allowInsecureRequests] });
assert.equal(config.serverMetadata().token_endpoint, `${base}/oauth/token`);
const refreshed = await client.refreshTokenGrant(config, login.refresh_token);
assert.equal(refreshed.token_type.toLowerCase(), 'bearer');
assert.ok(refreshed.access_token && refreshed.refresh_token !== login.refresh_token);
console.log('openid-client: discovery and refreshTokenGrant ok');

// Introspection with the client's credentials.
const live = await client.tokenIntrospection(config, refreshed.access_token);
assert.equal(live.active, true);
assert.equal(live.client_id, client_id);
assert.equal(live.token_type, 'Bearer');
console.log('openid-client: tokenIntrospection ok');

// oauth4webapi: the access token is a valid RFC 9068 token.
const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
const request = new Request(`${base}/resource`, {
  headers: { authorization: `Bearer ${refreshed.access_token}` },
});
const claims = await oauth.validateJwtAccessToken(as, request, 'jwtd', {
  [oauth.allowInsecureRequests]: true,
});
assert.equal(claims.client_id, client_id);
assert.equal(claims.sub, live.sub);
console.log('oauth4webapi: validateJwtAccessToken ok');

// Revocation of the refresh token ends the session: no more refresh, and
// its access token is inactive.
await client.tokenRevocation(config, refreshed.refresh_token);
await assert.rejects(
  client.refreshTokenGrant(config, refreshed.refresh_token),
  (e) => e.error === 'invalid_grant');
const dead = await client.tokenIntrospection(config, refreshed.access_token);
assert.deepEqual(dead.active, false);
console.log('openid-client: tokenRevocation ok');

// jose: a remote JWKS fetched once before a (staged) rotation still
// verifies the tokens of the new key: it was published before it signed.
// jose refetches on an unknown kid at most every 30 s, so a key that
// signed before it was published would fail here.
const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));
const verify = (jwt) => jose.jwtVerify(jwt, jwks, { issuer: base, audience: 'jwtd', typ: 'at+jwt' });
const first = (await post('/login', { username: 'node-user', password })).access_token;
await verify(first);
const rotation = await post('/admin/keys/rotate', undefined, asAdmin);
assert.notEqual(rotation.kid, kidOf(first));
const deadline = Date.now() + 15_000;
let signedByNew = 0;
while (signedByNew < 3) {
  assert.ok(Date.now() < deadline, 'the rotated key never signed');
  const t = (await post('/login', { username: 'node-user', password })).access_token;
  const { protectedHeader } = await verify(t);
  if (protectedHeader.kid === rotation.kid) signedByNew += 1;
  else await new Promise((r) => setTimeout(r, 250));
}
await verify(first);
console.log('jose: createRemoteJWKSet across a rotation ok');
