// jwtd-express against the real jwtd binary (issue #13): the seed flow,
// session and global logout, key rotation and revocation, jwtd gone and
// back, and forged tokens, through the seed's own app (example/app.js).
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import express from 'express';

import { createApp } from '../example/app.js';
import { jwtd, requireAuth } from '../index.js';
import {
  ADMIN, ISSUER, feedClient, freePort, get, listen, login, post, startJwtd, until,
} from './helpers.js';

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

describe('the seed app behind jwtd-express', () => {
  let jwtdServer;
  let port;
  let app;
  let server;
  let protectedUrl;

  before(async () => {
    port = await freePort();
    jwtdServer = await startJwtd(port);
    const client = await feedClient(jwtdServer.url);
    app = createApp({ url: jwtdServer.url, issuer: ISSUER, ...client, maxStaleness: 1000, jwksCooldown: 200 });
    await app.verifyToken.ready;
    server = await listen(app);
    protectedUrl = `${server.url}/protected`;
  });

  after(async () => {
    app.verifyToken.close();
    await server.close();
    await jwtdServer.stop();
  });

  test('the seed flow: login at jwtd, protected 200, logout, 401 within 100 ms', async (t) => {
    const { access_token: token } = await login(jwtdServer.url, 'seed-user');
    const ok = await get(protectedUrl, token);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { message: 'Access granted', user: 'seed-user' });
    const out = await post(server.url, '/logout', { token });
    assert.equal(out.status, 200);
    assert.equal(out.body.message, 'Logged out successfully');
    const took = await until(protectedUrl, token, 401, 100);
    const r = await get(protectedUrl, token);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token", error_description="token revoked"');
    assert.deepEqual(r.body, { error: 'invalid_token', error_description: 'token revoked' });
    t.diagnostic(`logout refused by the middleware after ${took.toFixed(1)} ms`);
  });

  test('no credentials: 401 with a bare Bearer challenge', async () => {
    const r = await get(protectedUrl);
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    assert.equal(r.body.error, 'unauthorized');
  });

  test('a session logout ends that session; a global one every session, and a new login works', async () => {
    const a = await login(jwtdServer.url, 'many');
    const b = await login(jwtdServer.url, 'many');
    const c = await login(jwtdServer.url, 'many');
    const del = await fetch(`${jwtdServer.url}/sessions/${a.session_id}`, {
      method: 'DELETE', headers: { authorization: `Bearer ${b.access_token}` },
    });
    assert.equal(del.status, 204);
    await until(protectedUrl, a.access_token, 401, 500);
    assert.equal((await get(protectedUrl, b.access_token)).status, 200);
    const out = await post(jwtdServer.url, '/logout?scope=global', undefined, { authorization: `Bearer ${b.access_token}` });
    assert.equal(out.status, 200);
    await until(protectedUrl, c.access_token, 401, 500);
    assert.equal((await get(protectedUrl, b.access_token)).status, 401);
    // A login right after (the same second, usually) gets working tokens.
    const fresh = await login(jwtdServer.url, 'many');
    assert.equal((await get(protectedUrl, fresh.access_token)).status, 200);
  });

  test('key rotation and key revocation are followed', async () => {
    const old = (await login(jwtdServer.url, 'keys')).access_token;
    for (let i = 0; i < 2; i += 1) {
      const r = await post(jwtdServer.url, '/admin/keys/rotate?immediate=true', undefined, { authorization: `Bearer ${ADMIN}` });
      assert.equal(r.status, 200);
    }
    const fresh = (await login(jwtdServer.url, 'keys')).access_token;
    const kid = (t) => decode(t.split('.')[0]).kid;
    assert.notEqual(kid(fresh), kid(old));
    await until(protectedUrl, fresh, 200, 3000);
    assert.equal((await get(protectedUrl, old)).status, 200, 'old keys keep verifying');
    const r = await post(jwtdServer.url, `/admin/keys/${kid(old)}/revoke`, undefined, { authorization: `Bearer ${ADMIN}` });
    assert.equal(r.status, 200);
    await until(protectedUrl, old, 401, 500);
    assert.equal((await get(protectedUrl, fresh)).status, 200);
  });

  test('forged tokens are refused as jwtd refuses them', async () => {
    const good = (await login(jwtdServer.url, 'forger')).access_token;
    const [h, p] = good.split('.');
    const header = decode(h);
    const jwks = await (await fetch(`${jwtdServer.url}/.well-known/jwks.json`)).json();
    const pub = jwks.keys.find((k) => k.kid === header.kid);
    const none = `${b64({ alg: 'none', typ: 'at+jwt', kid: header.kid })}.${p}.`;
    const hsHead = b64({ alg: 'HS256', typ: 'at+jwt', kid: header.kid });
    const confused = `${hsHead}.${p}.${createHmac('sha256', pub.x).update(`${hsHead}.${p}`).digest('base64url')}`;
    const { privateKey } = generateKeyPairSync('ed25519');
    const { sign } = await import('node:crypto');
    const injHead = b64({ alg: 'EdDSA', typ: 'at+jwt', kid: 'attacker', jwk: privateKey.export({ format: 'jwk' }) });
    const injected = `${injHead}.${p}.${sign(null, Buffer.from(`${injHead}.${p}`), privateKey).toString('base64url')}`;
    const tampered = `${h}.${b64({ ...decode(p), sub: 'someone-else' })}.${good.split('.')[2]}`;
    for (const [token, why] of [
      [none, 'algorithm not allowed'],
      [confused, 'algorithm not allowed'],
      [injected, 'unknown signing key'],
      [tampered, 'invalid signature'],
      ['not-a-jwt', 'malformed token'],
    ]) {
      for (const url of [protectedUrl, `${jwtdServer.url}/protected`]) {
        const r = await get(url, token);
        assert.equal(r.status, 401, `${why} at ${url}`);
        assert.equal(r.headers.get('www-authenticate'), `Bearer error="invalid_token", error_description="${why}"`, url);
      }
    }
    assert.equal((await get(protectedUrl, good)).status, 200);
  });

  test('jwtd stopped: known revocations stay, 503 after maxStaleness, then recovery', async () => {
    const revoked = (await login(jwtdServer.url, 'gone-a')).access_token;
    const kept = (await login(jwtdServer.url, 'gone-b')).access_token;
    await post(jwtdServer.url, '/logout', { token: revoked });
    await until(protectedUrl, revoked, 401, 500);
    await jwtdServer.stop();
    assert.equal((await get(protectedUrl, revoked)).status, 401);
    const took = await until(protectedUrl, kept, 503, 3000);
    assert.ok(took >= 300, `503 after ${took} ms: too early`);
    const r = await get(protectedUrl, kept);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(r.body.error, 'temporarily_unavailable');
    jwtdServer = await startJwtd(port, jwtdServer.dir);
    await until(protectedUrl, kept, 200, 5000);
    assert.equal((await get(protectedUrl, revoked)).status, 401);
  });
});

test('requireAuth guards single routes when the middleware lets anonymous requests through', async () => {
  const port = await freePort();
  const j = await startJwtd(port);
  const client = await feedClient(j.url);
  const mw = jwtd({ url: j.url, issuer: ISSUER, ...client, credentialsRequired: false });
  await mw.ready;
  const app = express();
  app.use(mw);
  app.get('/public', (req, res) => res.json({ user: req.auth?.preferred_username ?? null }));
  app.get('/private', requireAuth(), (req, res) => res.json({ user: req.auth.preferred_username }));
  const s = await listen(app);
  try {
    const { access_token: token } = await login(j.url, 'optional');
    assert.deepEqual((await get(`${s.url}/public`)).body, { user: null });
    assert.deepEqual((await get(`${s.url}/public`, token)).body, { user: 'optional' });
    assert.equal((await get(`${s.url}/private`)).status, 401);
    assert.equal((await get(`${s.url}/private`, token)).status, 200);
    assert.equal((await get(`${s.url}/public`, 'garbage')).status, 401, 'a bad token is refused anyway');
  } finally {
    mw.close();
    await s.close();
    await j.stop();
  }
});

