#!/usr/bin/env python3
"""jwtd-verify under a fleet's load (issue #12), in one run: the example
resource-server's `/hello` behind the jwtd-verify layer against its `/open`
(the same kind of answer, no auth), with N distinct tokens round-robin and
1,000,000 live revocations in jwtd (so in the verifier's index too); and,
for comparison, the same tokens checked by jwtd itself: `GET /auth/verify`
(what forward-auth costs, before the proxy's own hop) and
`POST /oauth/introspect` with a registered client.

Pinning and pairing as in bench/http_bench.py (load on CPU 0, servers on
CPU 1; every figure the median of --runs runs, each paired with an /open
run taken right before it). EdDSA.

usage: python3 bench/verify_bench.py [--fleet 100000] [--revocations 1000000]
                                     [--runs 3] [--duration 5]
Builds the release binaries first (jwtd, the example). Needs wrk and
Python's cryptography package (tokens are minted with jwtd's key).
"""
import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402

EXAMPLE = os.path.join(hb.ROOT, "target/release/examples/resource-server")
INTROSPECT = hb.lua("introspect.lua", hb.PER_REQUEST % (
    'return wrk.format("POST", "/oauth/introspect", {["Content-Type"] = '
    '"application/x-www-form-urlencoded", ["Authorization"] = os.getenv("BASIC")}, "token=" .. item)'))


def paired(runs, duration, base, measured):
    """Median ratio of `measured` to `base`, each run right after its base."""
    ratios, rps, p99 = [], [], []
    for _ in range(runs):
        b = base()
        m = measured()
        ratios.append(m["rps"] / max(b["rps"], 1.0))
        rps.append(m["rps"])
        p99.append(m["p99"])
        assert m["non2xx"] == 0, f"{m['non2xx']} non-2xx answers"
    return statistics.median(ratios), statistics.median(rps), statistics.median(p99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fleet", type=int, default=100_000)
    ap.add_argument("--revocations", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bin", "jwtd", "--example", "resource-server"],
                   cwd=hb.ROOT, check=True)
    data = tempfile.mkdtemp(prefix="jwtd-verify-bench-")
    p, url, _ = hb.start_jwtd(data, "EdDSA", cheap_argon2=True)
    hb.call("POST", url + "/register", {"username": "bulk", "password": hb.PASSWORD})
    sessions = os.path.join(data, "fleet.sessions")
    hb.mint(url, os.path.join(data, "jwtd.db"), a.fleet, sessions)
    hb.stop(p)
    if a.revocations:
        hb.fill_revocations(os.path.join(data, "jwtd.db"), a.revocations)
    p, url, _ = hb.start_jwtd(data, "EdDSA", cheap_argon2=True)
    _, client = hb.call("POST", url + "/admin/clients", {"name": "bench", "feed": True, "introspect": True},
                        {"Authorization": f"Bearer {hb.ADMIN}"})
    items = os.path.join(data, "fleet.tokens")
    with open(sessions) as src, open(items, "w") as f:
        f.writelines(line.split()[0] + "\n" for line in src)
    port = hb.free_port()
    env = dict(os.environ, JWTD_URL=url, JWTD_ISSUER=hb.ISSUER, JWTD_CLIENT_ID=client["client_id"],
               JWTD_CLIENT_SECRET=client["client_secret"], LISTEN=f"127.0.0.1:{port}")
    started = time.time()
    rs = subprocess.Popen(["taskset", "-c", hb.SERVER_CPU, EXAMPLE], env=env)
    service = f"http://127.0.0.1:{port}"
    hb.wait_ready(service, rs)
    print(f"# resource-server ready in {time.time() - started:.2f} s with {a.revocations:,} revocations",
          file=sys.stderr)

    def run(base_url, route, script=hb.FLEET, extra=None):
        return lambda: hb.wrk(base_url, a.duration, script, dict({"ITEMS": items, "ROUTE": route}, **(extra or {})))

    # Every token seen once before anything is measured (the verified-token cache).
    warm = hb.wrk(service, max(10, a.fleet // 8000), hb.FLEET, {"ITEMS": items, "ROUTE": "/hello"})
    assert warm["requests"] >= a.fleet, f"warm-up covered {warm['requests']} of {a.fleet}"
    hb.wrk(url, max(10, a.fleet // 8000), hb.FLEET, {"ITEMS": items, "ROUTE": "/auth/verify"})
    basic = "Basic " + base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    base = run(service, "/open")
    rows = [
        ("resource-server /hello behind the jwtd-verify layer", run(service, "/hello")),
        ("jwtd GET /auth/verify (forward-auth, without the proxy hop)", run(url, "/auth/verify")),
        ("jwtd POST /oauth/introspect (client_secret_basic)", run(url, "/oauth/introspect", INTROSPECT, {"BASIC": basic})),
    ]
    print(f"\n{a.fleet:,} distinct EdDSA tokens round-robin, {a.revocations:,} live revocations, "
          f"64 connections, median of {a.runs}:\n")
    print("| route | req/s | p99 ms | × /open (no auth) |")
    print("|---|---|---|---|")
    for name, fn in rows:
        ratio, rps, p99 = paired(a.runs, a.duration, base, fn)
        print(f"| {name} | {rps:,.0f} | {p99:.2f} | {ratio:.2f} |")
    rs.terminate()
    hb.stop(p)


if __name__ == "__main__":
    main()
