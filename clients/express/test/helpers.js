// Test helpers: the real jwtd binary (built by `cargo test`, or JWTD_BIN),
// on a port chosen here so it can be restarted where clients left it.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ISSUER = 'http://jwtd.test';
export const ADMIN = 'test-admin-token-0123456789';
export const PASSWORD = 'correct horse battery';
const BIN = process.env.JWTD_BIN ?? fileURLToPath(new URL('../../../target/debug/jwtd', import.meta.url));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts jwtd on `port` (and `dir`), once /healthz answers. */
export async function startJwtd(port, dir = mkdtempSync(join(tmpdir(), 'jwtd-express-'))) {
  const child = spawn(BIN, [
    'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--issuer', ISSUER,
    '--admin-token', ADMIN, '--argon2-memory-kib', '1024', '--argon2-iterations', '1',
    '--jwks-max-age', '1s',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  child.stderr.on('data', (d) => { logs += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`jwtd did not start: ${logs}`);
    await sleep(50);
  }
  return {
    url,
    dir,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function post(url, path, body, headers = {}) {
  const r = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Registers (once) and logs in; the login's body. */
export async function login(url, username) {
  await post(url, '/register', { username, password: PASSWORD });
  const r = await post(url, '/login', { username, password: PASSWORD });
  if (r.status !== 200) throw new Error(`login ${r.status}`);
  return r.body;
}

/** A registered client allowed to read the feed. */
export async function feedClient(url) {
  const r = await post(url, '/admin/clients', { name: 'express tests', feed: true }, { authorization: `Bearer ${ADMIN}` });
  return { clientId: r.body.client_id, clientSecret: r.body.client_secret };
}

/** Serves an Express app on an ephemeral port. */
export function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
    }));
  });
}

export async function get(url, token) {
  const r = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, headers: r.headers, body: await r.json().catch(() => null) };
}

/** Polls until `url` answers `status` for `token`; ms it took. */
export async function until(url, token, status, limitMs) {
  const start = performance.now();
  for (;;) {
    const r = await get(url, token);
    if (r.status === status) return performance.now() - start;
    if (performance.now() - start > limitMs) throw new Error(`${url} still ${r.status}, not ${status}, after ${limitMs} ms`);
    await sleep(2);
  }
}
