// Figures for jwtd-express (issue #13), in one run, on this machine:
//   * the seed app's GET /protected behind jwtd-express (EdDSA token, the
//     revocation feed live) against the same app's /open (no auth) and
//     against the seed article's own stack (Express + jsonwebtoken + a
//     Redis blacklist read per request); wrk, 64 connections, load on
//     CPU 0, each server alone on CPU 1, median of 3 runs, each ratio
//     paired with an /open run taken right before it;
//   * propagation: jwtd's answer to a logout to the middleware's first
//     refusal (its verifier, polled), over 1,000 logouts.
// usage: node bench/bench.mjs [--duration 5] [--runs 3]
// Needs wrk, Redis on 127.0.0.1:6379, and target/release/jwtd (cargo build --release).
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Verifier } from '../index.js';
import { ISSUER, feedClient, freePort, login, post, sleep, startJwtd } from '../test/helpers.js';

const args = process.argv.slice(2);
const opt = (name, d) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : d; };
const DURATION = opt('--duration', 5);
const RUNS = opt('--runs', 3);
process.env.JWTD_BIN ??= fileURLToPath(new URL('../../../target/release/jwtd', import.meta.url));
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

function wrk(url, token) {
  const out = execFileSync('taskset', ['-c', '0', 'wrk', '-t1', '-c64', `-d${DURATION}s`, '--latency',
    '-H', `Authorization: Bearer ${token}`, url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const ms = Number(p99[1]) * { us: 1e-3, ms: 1, s: 1e3 }[p99[2]];
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (non2xx) throw new Error(`${url}: ${non2xx} non-2xx answers`);
  return { rps, p99: ms };
}

async function server(script, env) {
  const port = await freePort();
  const child = spawn('taskset', ['-c', '1', process.execPath, script], {
    env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i += 1) {
    try { await fetch(`${url}/protected`); return { url, child }; } catch { await sleep(50); }
  }
  throw new Error(`${script} did not start`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const jwtdServer = await startJwtd(await freePort());
const client = await feedClient(jwtdServer.url);
const { access_token: token } = await login(jwtdServer.url, 'bench');
const ours = await server(here('../example/app.js'), {
  JWTD_URL: jwtdServer.url, JWTD_ISSUER: ISSUER, JWTD_CLIENT_ID: client.clientId, JWTD_CLIENT_SECRET: client.clientSecret,
});
const secret = 'seed-secret-for-the-benchmark';
const { default: jwt } = await import('jsonwebtoken');
const seedToken = jwt.sign({ sub: 'bench' }, secret, { expiresIn: '1h' });
const seed = await server(here('./seed-app.mjs'), { SECRET: secret, PREFIX: `seed-bench:${Date.now()}:` });

const rows = [['seed app /protected behind jwtd-express', () => wrk(`${ours.url}/protected`, token)],
  ['seed article stack (Express + jsonwebtoken + Redis blacklist)', () => wrk(`${seed.url}/protected`, seedToken)]];
wrk(`${ours.url}/protected`, token); // warm-up
wrk(`${seed.url}/protected`, seedToken);
console.log(`\n| route (64 connections, server on one core, median of ${RUNS}) | req/s | p99 ms | × /open (no auth) |`);
console.log('|---|---|---|---|');
let open = [];
for (const [name, run] of rows) {
  const ratios = []; const rps = []; const p99 = [];
  for (let i = 0; i < RUNS; i += 1) {
    const base = wrk(`${ours.url}/open`, token);
    open.push(base.rps);
    const r = run();
    ratios.push(r.rps / base.rps); rps.push(r.rps); p99.push(r.p99);
  }
  console.log(`| ${name} | ${median(rps).toFixed(0)} | ${median(p99).toFixed(2)} | ${median(ratios).toFixed(2)} |`);
}
console.log(`| the same Express app, /open (no auth) | ${median(open).toFixed(0)} | | 1.00 |`);
ours.child.kill(); seed.child.kill();

// Propagation, against the verifier the middleware runs.
const v = new Verifier({ url: jwtdServer.url, issuer: ISSUER, ...client });
await v.start();
const took = [];
for (let i = 0; i < 1000; i += 1) {
  const { access_token: t } = await login(jwtdServer.url, 'bench');
  if (!(await v.verify(t)).ok) throw new Error('a fresh token refused');
  const out = await post(jwtdServer.url, '/logout', { token: t });
  const answered = performance.now();
  if (out.status !== 200) throw new Error(`logout ${out.status}`);
  while ((await v.verify(t)).ok) await new Promise((r) => setImmediate(r));
  took.push(performance.now() - answered);
}
took.sort((a, b) => a - b);
console.log(`\nlogout at jwtd -> middleware refuses, 1000 logouts: p50 ${took[500].toFixed(2)} ms, `
  + `p99 ${took[990].toFixed(2)} ms, max ${took[999].toFixed(2)} ms`);
v.close();
await jwtdServer.stop();
