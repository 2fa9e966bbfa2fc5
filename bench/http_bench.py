#!/usr/bin/env python3
"""HTTP benchmark of jwtd against a bare axum route, in one run.

Measures, with wrk on loopback (load generator pinned to CPU 0, servers to
CPU 1), req/s, p50 and p99 at 64 connections for:
  the bare route (the ceiling), jwtd /protected and /auth/verify (one token
  reused, as a client does), /logout and /token/refresh (a fresh token per
  request), and /login (production argon2 parameters),
for HS256, EdDSA, ES256 and RS256, with 0 and 1,000,000 live revocations.
Every figure is the median of --runs runs and is reported as a ratio to the
bare route measured right before each of those runs (the bare server stays
up, idle between its runs): a shared machine drifts over minutes, so pairing
in time keeps the ratio honest. Bounded in time: each run lasts --duration
seconds.

--fleet N measures a fleet instead: N distinct live tokens (one login
each), every one presented once before the measured runs, then round-robin
through a Lua script; the bare route is driven by the same script (it
ignores the header), so both sides pay the same client cost. With
--revocations fleet the index holds what a fleet's does: 1,000,000 token +
100,000 session + 100,000 user revocations (the users are others, so no
presented token is revoked and every check runs to the end).

--instructions adds a figure that does not depend on the machine's load:
user-space instructions per request, bare route and jwtd /protected, from
valgrind's callgrind (needs valgrind).

--fleet N --mint signs the N tokens in the script with the server's own
key instead of logging in N times (needs Python's cryptography package); --cache-size sets the
server's verify_cache_size (a million EdDSA tokens need ~1.1 GiB).

usage: python3 bench/http_bench.py [--runs 3] [--duration 5] [--algs EdDSA,HS256]
                                   [--revocations 0,1000000,fleet] [--no-writes]
                                   [--fleet 100000 [--mint] [--cache-size 2GiB]]
                                   [--instructions]
Builds the release binaries first. Prints a Markdown table.
"""
import argparse
import base64
import json
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JWTD = os.path.join(ROOT, "target/release/jwtd")
BARE = os.path.join(ROOT, "bench/bare/target/release/jwtd-bench-bare")
SERVER_CPU, LOAD_CPU, CONNS = "1", "0", 64
ISSUER, ADMIN = "http://bench", "bench-admin-token-0123456789"
PASSWORD = "bench-password-123"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def wait_ready(url, proc, timeout=60):
    """Waits until the server at url answers HTTP at all (the bare server
    answers 404 on /healthz: listening is what counts)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited: {proc.returncode}")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=5)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("server did not start")


EXTRA_ARGS = []  # --cache-size adds --verify-cache-size here


def jwtd_args(port, data, alg, cheap_argon2):
    args = [JWTD, "serve", "--listen", f"127.0.0.1:{port}",
            "--data-dir", data, "--algorithm", alg, "--issuer", ISSUER, "--admin-token", ADMIN] + EXTRA_ARGS
    if cheap_argon2:  # setup only: the measured server uses production parameters
        args += ["--argon2-memory-kib", "8", "--argon2-iterations", "1"]
    return args


def start_jwtd(data, alg, cheap_argon2):
    port = free_port()
    args = ["taskset", "-c", SERVER_CPU] + jwtd_args(port, data, alg, cheap_argon2)
    env = dict(os.environ, RUST_LOG="warn")
    started = time.time()
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, p)
    return p, url, time.time() - started


def stop(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()


def fill_revocations(db, n):
    """Writes live revocations straight into the store: n token/session
    ones, half each; or, for n == "fleet", 1,000,000 token + 100,000
    session + 100,000 user cut-offs (of users who are not benchmarking)."""
    now = int(time.time())
    con = sqlite3.connect(db)
    def ids():
        return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
    if n == "fleet":
        kinds = [("token", 1_000_000), ("session", 100_000), ("user", 100_000)]
    else:
        kinds = [("token", n - n // 2), ("session", n // 2)]
    for kind, count in kinds:
        value = (lambda: str(uuid.uuid4())) if kind == "user" else ids
        rows = ((kind, value(), now - 60, now + 7200) for _ in range(count))
        con.executemany("INSERT INTO revocations (kind, value, revoked_at, expires_at) VALUES (?,?,?,?)", rows)
    con.commit()
    con.close()


def logins(url, user, n, out):
    """Writes n fresh sessions of `user` (registered with cheap argon2
    parameters) to `out`, one "access refresh" pair a line. wrk makes them
    (a Python client managed ~1,500 logins/s, too slow for 96,000 a
    configuration) and is stopped once the file has n lines."""
    args = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNS}", "-d300s", "-s", COLLECT, url + "/login"]
    p = subprocess.Popen(args, env=dict(os.environ, OUT=out, N=str(n)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got = 0
    while p.poll() is None:
        time.sleep(0.2)
        if os.path.exists(out):
            with open(out) as f:
                got = sum(1 for _ in f)
            if got >= n:
                break
    stop(p)
    assert got >= n, f"{got} of {n} sessions provisioned"


def parse_latency(text, pct):
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == f"{pct}%":
            v = parts[1]
            for unit, k in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
                if v.endswith(unit):
                    return float(v[: -len(unit)]) * k
    return float("nan")


def wrk(url, duration, script=None, env=None):
    args = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNS}", f"-d{duration}s", "--latency"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True,
                         env=dict(os.environ, **(env or {})), timeout=duration + 60).stdout
    rps = next((float(l.split()[1]) for l in out.splitlines() if l.startswith("Requests/sec:")), 0.0)
    total = next((int(l.split()[0]) for l in out.splitlines() if "requests in" in l), 0)
    non2xx = next((int(l.split()[-1]) for l in out.splitlines() if "Non-2xx" in l), 0)
    return {"rps": rps, "p50": parse_latency(out, 50), "p99": parse_latency(out, 99),
            "requests": total, "non2xx": non2xx}


LUA_DIR = tempfile.mkdtemp(prefix="jwtd-bench-lua-")


def lua(name, body):
    path = os.path.join(LUA_DIR, name)
    with open(path, "w") as f:
        f.write(body)
    return path


BEARER = lua("bearer.lua", 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")\n')
PER_REQUEST = """
local items, i = {}, 0
for line in io.lines(os.getenv("ITEMS")) do items[#items + 1] = line end
request = function()
  i = i + 1
  local item = items[((i - 1) %% #items) + 1]
  %s
end
"""
LOGOUT = lua("logout.lua", PER_REQUEST % 'return wrk.format("POST", "/logout", {["Authorization"] = "Bearer " .. item}, "")')
REFRESH = lua("refresh.lua", PER_REQUEST % ('return wrk.format("POST", "/token/refresh", '
                                            '{["Content-Type"] = "application/json"}, '
                                            '\'{"refresh_token":"\' .. item .. \'"}\')'))
COLLECT = lua("collect.lua", f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{{"username":"bulk","password":"{PASSWORD}"}}'
local out, want, got = io.open(os.getenv("OUT"), "w"), tonumber(os.getenv("N")), 0
out:setvbuf("line")
response = function(status, headers, body)
  if status == 200 and got < want then
    local a = body:match('"access_token":"([^"]+)"')
    local r = body:match('"refresh_token":"([^"]+)"')
    out:write(a, " ", r, "\\n")
    got = got + 1
  end
end
""")
FLEET = lua("fleet.lua", PER_REQUEST % 'return wrk.format("GET", os.getenv("ROUTE"), {["Authorization"] = "Bearer " .. item})')
LOGIN = lua("login.lua", 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                         f'wrk.body = \'{{"username":"prod","password":"{PASSWORD}"}}\'\n')


class Bare:
    """The ceiling: a bare axum route, kept up for the whole invocation and
    measured right before every jwtd run, so each ratio pairs runs taken
    seconds apart."""

    def __init__(self, duration):
        port = free_port()
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, BARE, f"127.0.0.1:{port}"])
        self.url, self.duration, self.all = f"http://127.0.0.1:{port}/bare", duration, []
        # Set by fleet mode: drive the bare route through the same script.
        self.script, self.env = None, None
        wait_ready(f"http://127.0.0.1:{port}", self.proc)

    def run(self):
        r = wrk(self.url, self.duration, self.script, self.env)
        self.all.append(r)
        return r["rps"]


def median_run(runs, bare, fn):
    """Median of `runs` runs of fn, each right after a run of the bare
    route; `ratio` is the median of the per-pair ratios."""
    results = []
    for i in range(runs):
        base = bare.run()
        r = fn(i)
        r["ratio"] = r["rps"] / base if base else float("nan")
        results.append(r)
    return {k: statistics.median(r[k] for r in results) for k in ("rps", "p50", "p99", "ratio")} | {
        "short": any(r.get("short") for r in results), "non2xx": sum(r["non2xx"] for r in results)}


def instructions(cmd, url, setup=None, duration=10):
    """User-space instructions per request of the server started by cmd, from
    callgrind: counters zeroed after a warm-up, dumped after a wrk run."""
    out = tempfile.mkdtemp(prefix="jwtd-bench-cg-")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out"] + cmd,
                         env=dict(os.environ, RUST_LOG="warn"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = url.rsplit("/", 1)[0]
    wait_ready(base, p, timeout=120)  # valgrind starts slowly
    env = setup(base) if setup else {}
    script = BEARER if env else None
    wrk(url, 3, script, env)
    subprocess.run(["callgrind_control", "-z", str(p.pid)], capture_output=True)
    r = wrk(url, duration, script, env)
    subprocess.run(["callgrind_control", "-d", str(p.pid)], capture_output=True)
    time.sleep(1)
    stop(p)
    dumps = sorted(f for f in os.listdir(out) if f.startswith("cg.out."))
    with open(os.path.join(out, dumps[0])) as f:
        total = next(int(l.split()[1]) for l in f if l.startswith("summary:"))
    assert r["non2xx"] == 0, r
    return total / r["requests"]


def measure_instructions():
    """Instructions per request: bare route, then jwtd /protected (HS256,
    one reused token, empty index; the cached path is the same for every
    algorithm)."""
    port = free_port()
    bare = instructions([BARE, f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}/bare")
    data, port = tempfile.mkdtemp(prefix="jwtd-bench-cg-"), free_port()

    def token(base):
        call("POST", base + "/register", {"username": "prod", "password": PASSWORD})
        s, b = call("POST", base + "/login", {"username": "prod", "password": PASSWORD})
        assert s == 200, s
        return {"TOKEN": b["access_token"]}
    jwtd = instructions(jwtd_args(port, data, "HS256", False),
                        f"http://127.0.0.1:{port}/protected", token)
    return bare, jwtd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--write-duration", type=int, default=1)
    ap.add_argument("--algs", default="HS256,EdDSA,ES256,RS256")
    ap.add_argument("--revocations", default="0,1000000")
    ap.add_argument("--tokens", type=int, default=24000, help="fresh tokens per write run")
    ap.add_argument("--no-writes", action="store_true")
    ap.add_argument("--instructions", action="store_true")
    ap.add_argument("--fleet", type=int, default=0, help="distinct tokens, round-robin (fleet mode)")
    ap.add_argument("--mint", action="store_true", help="fleet mode: sign the tokens here, not by login")
    ap.add_argument("--cache-size", help="the server's verify_cache_size (e.g. 2GiB for 1M tokens)")
    a = ap.parse_args()
    if a.cache_size:
        EXTRA_ARGS.extend(["--verify-cache-size", a.cache_size])
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                    os.path.join(ROOT, "bench/bare/Cargo.toml")], check=True)
    rows = []
    bare = Bare(a.duration)
    started = time.time()

    if a.fleet:
        return fleet(a, bare, started)
    for alg in a.algs.split(","):
        for nrev in (int(n) for n in a.revocations.split(",")):
            data = tempfile.mkdtemp(prefix=f"jwtd-bench-{alg}-")
            p, url, _ = start_jwtd(data, alg, cheap_argon2=True)
            call("POST", url + "/register", {"username": "bulk", "password": PASSWORD})
            writes = {}
            if not a.no_writes:
                for scenario in ("logout", "refresh"):
                    writes[scenario] = []
                    for i in range(a.runs):
                        items = os.path.join(data, f"{scenario}-{i}.sessions")
                        logins(url, "bulk", a.tokens, items)
                        writes[scenario].append(items)
            stop(p)
            if nrev:
                fill_revocations(os.path.join(data, "jwtd.db"), nrev)
            p, url, startup = start_jwtd(data, alg, cheap_argon2=False)
            assert call("POST", url + "/register", {"username": "prod", "password": PASSWORD})[0] == 201
            s, b = call("POST", url + "/login", {"username": "prod", "password": PASSWORD})
            token = b["access_token"]
            label = f"{nrev:,}"
            for path in ("/protected", "/auth/verify"):
                r = median_run(a.runs, bare, lambda _: wrk(url + path, a.duration, BEARER, {"TOKEN": token}))
                rows.append((f"jwtd {path}", alg, label, r))
            for scenario, script, pick in (("logout", LOGOUT, 0), ("refresh", REFRESH, 1)):
                if scenario not in writes:
                    continue
                def run(i, script=script, pick=pick, scenario=scenario):
                    items = os.path.join(data, f"{scenario}-{i}.txt")
                    with open(writes[scenario][i]) as src, open(items, "w") as f:
                        f.writelines(line.split()[pick] + "\n" for line in src)
                    r = wrk(url, a.write_duration, script, {"ITEMS": items})
                    r["short"] = r["requests"] > a.tokens  # tokens reused: figure not valid
                    return r
                rows.append((f"jwtd /{'token/refresh' if scenario == 'refresh' else 'logout'}", alg, label,
                             median_run(a.runs, bare, run)))
            if not a.no_writes:
                rows.append(("jwtd /login (argon2id 19 MiB, t=2)", alg, label,
                             median_run(a.runs, bare, lambda _: wrk(url + "/login", a.write_duration, LOGIN))))
            stop(p)
            print(f"# {alg} with {label} revocations: startup {startup:.2f} s "
                  f"({time.time() - started:.0f} s so far)", file=sys.stderr)
    report(a, bare, rows)


def fleet(a, bare, started):
    """Fleet mode (see the module doc): /protected and the bare route, both
    round-robin through the same N tokens."""
    rows = []
    for alg in a.algs.split(","):
        for nrev in a.revocations.split(","):
            nrev = nrev if nrev == "fleet" else int(nrev)
            data = tempfile.mkdtemp(prefix=f"jwtd-bench-fleet-{alg}-")
            p, url, _ = start_jwtd(data, alg, cheap_argon2=True)
            call("POST", url + "/register", {"username": "bulk", "password": PASSWORD})
            sessions = os.path.join(data, "fleet.sessions")
            if a.mint:
                mint(url, os.path.join(data, "jwtd.db"), a.fleet, sessions)
            else:
                logins(url, "bulk", a.fleet, sessions)
            stop(p)
            if nrev:
                fill_revocations(os.path.join(data, "jwtd.db"), nrev)
            p, url, startup = start_jwtd(data, alg, cheap_argon2=False)
            items = os.path.join(data, "fleet.tokens")
            with open(sessions) as src, open(items, "w") as f:
                f.writelines(line.split()[0] + "\n" for line in src)
            # Every token seen once before anything is measured.
            warm = wrk(url, max(10, a.fleet // 8000), FLEET, {"ITEMS": items, "ROUTE": "/protected"})
            assert warm["requests"] >= a.fleet, f"warm-up covered {warm['requests']} of {a.fleet} tokens"
            bare.script, bare.env = FLEET, {"ITEMS": items, "ROUTE": "/bare"}
            r = median_run(a.runs, bare, lambda _: wrk(url, a.duration, FLEET, {"ITEMS": items, "ROUTE": "/protected"}))
            bare.script, bare.env = None, None
            label = "1M token + 100k session + 100k user" if nrev == "fleet" else f"{nrev:,}"
            rows.append((f"jwtd /protected, {a.fleet:,} tokens round-robin", alg, label, r))
            _, metrics = call_text(url + "/metrics")
            hits = metric(metrics, "jwtd_verify_cache_hits_total")
            misses = metric(metrics, "jwtd_verify_cache_misses_total")
            print(f"# {alg}, {label}: startup {startup:.2f} s, cache {metric(metrics, 'jwtd_verify_cache_entries'):,.0f} "
                  f"entries, hit rate {hits / max(1, hits + misses):.3f} ({time.time() - started:.0f} s so far)",
                  file=sys.stderr)
            stop(p)
    report(a, bare, rows)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def mint(url, db, n, out):
    """Writes n distinct access tokens to `out` ("token -" a line), signed
    here with the server's own active key (read from its store) in the
    shape of one it issued: its header and claims with a fresh jti, sid and
    sub (a UUID, as jwtd mints) each. Logging in a million times through
    wrk takes ~20 minutes; this takes seconds for HS256 and about a minute
    for EdDSA. Every algorithm jwtd signs with is supported. Sessions and users are not written: a protected request
    checks the signature, the claims and the revocation index only."""
    import hmac
    import hashlib
    _, body = call("POST", url + "/login", {"username": "bulk", "password": PASSWORD})
    header, payload, _ = body["access_token"].split(".")
    head, claims = json.loads(unb64url(header)), json.loads(unb64url(payload))
    con = sqlite3.connect(db)
    (key,) = con.execute("SELECT private_key FROM signing_keys WHERE kid = ?", (head["kid"],)).fetchone()
    con.close()
    if head["alg"] == "HS256":
        sign = lambda m: hmac.new(key, m, hashlib.sha256).digest()
    elif head["alg"] == "EdDSA":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        # The 32-byte seed inside the PKCS#8 document (OCTET STRING in an
        # OCTET STRING); aws-lc writes version 2, which cryptography refuses.
        at = bytes(key).index(b"\x04\x22\x04\x20") + 4
        sign = Ed25519PrivateKey.from_private_bytes(bytes(key)[at:at + 32]).sign
    elif head["alg"] == "ES256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        from cryptography.hazmat.primitives.serialization import load_der_private_key
        k = load_der_private_key(bytes(key), None)
        def sign(m):
            r, s_ = decode_dss_signature(k.sign(m, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s_.to_bytes(32, "big")
    elif head["alg"] == "RS256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.serialization import load_der_private_key
        k = load_der_private_key(bytes(key), None)
        sign = lambda m: k.sign(m, padding.PKCS1v15(), hashes.SHA256())
    with open(out, "w") as f:
        for _ in range(n):
            claims.update(jti=b64url(secrets.token_bytes(16)), sid=b64url(secrets.token_bytes(16)),
                          sub=str(uuid.uuid4()))
            signing_input = f"{header}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
            f.write(f"{signing_input}.{b64url(sign(signing_input.encode()))} -\n")


def call_text(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read().decode()


def metric(text, name):
    return next((float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + " ")), 0.0)


def report(a, bare, rows):
    stop(bare.proc)
    base = {k: statistics.median(r[k] for r in bare.all) for k in ("rps", "p50", "p99")}
    rows.insert(0, ("bare axum route (all its runs)", "-", "-", base | {
        "ratio": 1.0, "short": False, "non2xx": sum(r["non2xx"] for r in bare.all)}))

    print(f"\n{CONNS} connections, wrk on CPU {LOAD_CPU}, servers on CPU {SERVER_CPU}, "
          f"median of {a.runs} runs, each ratio the median of (jwtd run / bare run just before it)\n")
    print("| endpoint | alg | live revocations | req/s | ratio to bare | p50 ms | p99 ms | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for name, alg, nrev, r in rows:
        notes = []
        if r["short"]:
            notes.append("tokens ran out: re-used tokens inflate this figure")
        if r["non2xx"] and "login" not in name:
            notes.append(f"{r['non2xx']} non-2xx")
        print(f"| {name} | {alg} | {nrev} | {r['rps']:,.0f} | {r['ratio']:.2f} | "
              f"{r['p50']:.2f} | {r['p99']:.2f} | {'; '.join(notes)} |")
    p99s = sorted(r["p99"] for r in bare.all)
    print(f"\nBare route over its {len(p99s)} runs: p99 {p99s[0]:.2f}-{p99s[-1]:.2f} ms "
          f"(median {statistics.median(p99s):.2f}); req/s {min(r['rps'] for r in bare.all):,.0f}-"
          f"{max(r['rps'] for r in bare.all):,.0f}: how much the machine itself moves.")
    if a.instructions:
        b, j = measure_instructions()
        print(f"\nUser-space instructions per request (callgrind): bare route {b:,.0f}, "
              f"jwtd /protected {j:,.0f} ({j / b:.2f}x)")


if __name__ == "__main__":
    main()
