#!/usr/bin/env python3
"""/token/refresh throughput, embedded store, and where its time goes.

Runs the same refresh load (wrk, 1 thread / 64 connections on CPU 0, each
request presenting a fresh refresh token of its own) against one or more
jwtd binaries in alternation (servers pinned to CPU 1), so a "before" and
an "after" build are compared in one run on this shared machine:

    python3 bench/refresh_profile.py --jwtd target/release/jwtd \\
        --jwtd /path/to/baseline/jwtd [--runs 3] [--alg HS256] [--perf]

Every binary gets its own data directory with the same number of fresh
sessions (logins with cheap argon2 parameters, made by wrk beforehand);
a run uses a fresh file of them, so no token is presented twice. --perf
records the first binary's server with `perf record` during one extra run
and prints the top of its report (self time by symbol, and by DSO), so the
figure comes with where it goes.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402


def start(binary, data, alg, cheap):
    hb.JWTD = binary
    return hb.start_jwtd(data, alg, cheap_argon2=cheap)


def provision(binary, alg, files, per_file):
    """A data directory with `files` files of `per_file` fresh refresh tokens."""
    data = tempfile.mkdtemp(prefix="jwtd-refresh-")
    p, url, _ = start(binary, data, alg, cheap=True)
    hb.call("POST", url + "/register", {"username": "bulk", "password": hb.PASSWORD})
    paths = []
    for i in range(files):
        pairs = os.path.join(data, f"pairs-{i}")
        hb.logins(url, "bulk", per_file, pairs)
        items = os.path.join(data, f"refresh-{i}.txt")
        with open(pairs) as src, open(items, "w") as f:
            f.writelines(line.split()[1] + "\n" for line in src)
        paths.append(items)
    hb.stop(p)
    return data, paths


def run(binary, data, alg, items, duration, perf_out=None):
    p, url, _ = start(binary, data, alg, cheap=False)
    rec = None
    if perf_out:
        rec = subprocess.Popen(["perf", "record", "-F", "2999", "-g", "-o", perf_out,
                                "-p", str(p.pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    r = hb.wrk(url, duration, hb.REFRESH, {"ITEMS": items})
    if rec:
        rec.send_signal(2)
        rec.wait(30)
    hb.stop(p)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jwtd", action="append", required=True, help="a jwtd binary (repeatable)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=1)
    ap.add_argument("--sessions", type=int, default=24000, help="fresh tokens a run")
    ap.add_argument("--alg", default="HS256")
    ap.add_argument("--perf", action="store_true")
    a = ap.parse_args()
    extra = 1 if a.perf else 0
    setups = [provision(b, a.alg, a.runs + extra, a.sessions) for b in a.jwtd]
    results = {b: [] for b in a.jwtd}
    for i in range(a.runs):
        for b, (data, items) in zip(a.jwtd, setups):
            r = run(b, data, a.alg, items[i], a.duration)
            if r["requests"] >= a.sessions:
                print(f"warning: {b} used up its {a.sessions} tokens: raise --sessions", file=sys.stderr)
            if r["non2xx"]:
                print(f"warning: {b}: {r['non2xx']} non-2xx answers", file=sys.stderr)
            results[b].append(r)
            print(f"run {i + 1} {b}: {r['rps']:.0f} req/s, p50 {r['p50']} ms, p99 {r['p99']} ms",
                  file=sys.stderr)
    base = statistics.median(r["rps"] for r in results[a.jwtd[-1]])
    print(f"| binary | /token/refresh req/s ({a.alg}, median of {a.runs}) | vs last |")
    print("|---|---|---|")
    for b in a.jwtd:
        m = statistics.median(r["rps"] for r in results[b])
        print(f"| {b} | {m:,.0f} | {m / base:.2f} |")
    if a.perf:
        data, items = setups[0]
        out = os.path.join(data, "perf.data")
        run(a.jwtd[0], data, a.alg, items[-1], a.duration, perf_out=out)
        for sort in ("dso", "sym"):
            rep = subprocess.run(["perf", "report", "-i", out, "--no-children", "--sort", sort,
                                  "--stdio", "--percent-limit", "1.5"],
                                 capture_output=True, text=True).stdout
            print("\n".join(l for l in rep.splitlines() if l.strip() and not l.startswith("#")
                            and "%" in l and not l.lstrip().startswith("|")
                            and not l.lstrip().startswith("-")))
            print()


if __name__ == "__main__":
    main()
