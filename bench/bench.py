#!/usr/bin/python3
"""make bench: throughput and latency of a real vaultd on this machine.

Starts a throwaway vault in a temporary directory and runs bench/bench.c
(build/vaultd-bench) in several shapes: 1 client without pipelining (the
latency of one durable commit), 8 clients, 8 clients with pipelining, and
Gets (which are audited and therefore commits too)."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SHAPES = [
    # op, clients, requests per client, pipeline depth, body bytes
    ("put", 1, 500, 1, 1024),
    ("put", 8, 1000, 1, 1024),
    ("put", 8, 2000, 16, 1024),
    ("get", 8, 2000, 16, 1024),
    ("put", 8, 100, 4, 256 * 1024),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="vaultd-bench-")
    os.chmod(tmp, 0o755)  # vaultd drops to nobody, who reads the policy here
    state, key, sock = os.path.join(tmp, "state"), os.path.join(tmp, "root.key"), os.path.join(tmp, "s.sock")
    pol = os.path.join(tmp, "policy")
    with open(pol, "w") as f:
        f.write("allow user %d role service collections *\n" % os.getuid())
    for cmd in (["--generate-key", key], ["--init", "--state-dir", state, "--key-file", key]):
        subprocess.run([os.path.join(build, "vaultd")] + cmd
                       + (["--user", "nobody"] if os.geteuid() == 0 else []), check=True, capture_output=True)
    d = subprocess.Popen([os.path.join(build, "vaultd"), "--state-dir", state, "--key-file", key,
                          "--policy", pol, "--socket", sock]
                         + (["--user", "nobody"] if os.geteuid() == 0 else []))
    try:
        for _ in range(500):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(sock)
                break
            except OSError:
                time.sleep(0.01)
        print("%-4s %7s %5s %9s %9s %10s %9s %9s" % ("op", "clients", "depth", "body", "requests",
                                                   "per second", "p50 ms", "p99 ms"))
        for op, clients, n, depth, size in SHAPES:
            out = subprocess.run([os.path.join(build, "vaultd-bench"), sock, op, str(clients), str(n),
                                  str(depth), str(size)], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit("bench: %s failed: %s" % (op, out.stderr))
            r = json.loads(out.stdout)
            print("%-4s %7d %5d %9d %9d %10.0f %9.2f %9.2f" % (op, clients, depth, size, r["requests"],
                                                              r["per_second"], r["p50_us"] / 1000,
                                                              r["p99_us"] / 1000))
        st = os.statvfs(tmp)
        print("(store on %s; durable group commit, one fsync per batch)" % tmp)
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
