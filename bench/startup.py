#!/usr/bin/env python3
"""Startup time, exec to the first `/healthz` answer, with a large index.

Writes one data directory holding the index (`--revocations fleet`:
1,000,000 token + 100,000 session + 100,000 user revocations, or a
number: half token, half session), then for each binary given (so a
"before" and an "after" build are compared in one run) copies it and
starts the server --starts times in a row on the copy, on both cores and
pinned to one:

    python3 bench/startup.py --jwtd target/release/jwtd --jwtd /tmp/jwtd-before \\
        [--revocations fleet] [--starts 4] [--data DIR]

--data reuses a directory an earlier run wrote (it is printed).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402


def start(binary, data, pin):
    port = hb.free_port()
    args = (["taskset", "-c", hb.SERVER_CPU] if pin else []) + [binary]
    args += hb.jwtd_args(port, data, "EdDSA", False)[1:]
    t = time.time()
    p = subprocess.Popen(args, env=dict(os.environ, RUST_LOG="warn"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hb.wait_ready(f"http://127.0.0.1:{port}", p)
    took = time.time() - t
    hb.stop(p)
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jwtd", action="append", required=True, help="a jwtd binary (repeatable)")
    ap.add_argument("--revocations", default="fleet")
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--data", help="a data directory an earlier run wrote")
    a = ap.parse_args()
    src = a.data
    if not src:
        src = tempfile.mkdtemp(prefix="jwtd-startup-")
        hb.JWTD = a.jwtd[0]
        p, _, _ = hb.start_jwtd(src, "EdDSA", cheap_argon2=True)
        hb.stop(p)
        n = a.revocations if a.revocations == "fleet" else int(a.revocations)
        hb.fill_revocations(os.path.join(src, "jwtd.db"), n)
        print(f"# data: {src}", file=sys.stderr)
    for pin in (False, True):
        for b in a.jwtd:
            data = tempfile.mkdtemp(prefix="jwtd-startup-copy-")
            shutil.rmtree(data)
            shutil.copytree(src, data)
            times = [start(b, data, pin) for _ in range(a.starts)]
            where = f"pinned to CPU {hb.SERVER_CPU}" if pin else "all cores"
            print(f"{b}, {where}: " + ", ".join(f"{t:.2f}" for t in times) + " s")
            shutil.rmtree(data)


if __name__ == "__main__":
    main()
