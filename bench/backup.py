#!/usr/bin/python3
"""Backup cost on this machine: how long `vaultctl backup` takes for a vault
of N record versions, how large the copy is, and what it does to Puts that
run meanwhile (p50/p99 against the same load without a backup).

    /usr/bin/python3 bench/backup.py --build build --versions 200000

Starts a throwaway vault (as make bench does), fills it with vaultd-bench
(8 clients, 1 KiB bodies, over 8,000 record ids), then runs the same Put
load twice: alone, and while backups are taken one after another."""
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


def loadgen(build, sock, clients, per_client, depth, size):
    """vaultd-bench Puts over 8,000 record ids."""
    return [os.path.join(build, "vaultd-bench"), "--socket", sock, "--op", "put", "--clients", str(clients),
            "--requests", str(per_client), "--depth", str(depth), "--body", str(size), "--ids", "8000"]


def bench(build, sock, clients, per_client, depth, size):
    out = subprocess.run(loadgen(build, sock, clients, per_client, depth, size), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("vaultd-bench failed: " + out.stderr)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--versions", type=int, default=100000, help="record versions to fill the vault with")
    ap.add_argument("--load", type=int, default=1500, help="Puts per client in each measured run")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    vaultd, vaultctl = os.path.join(build, "vaultd"), os.path.join(build, "vaultctl")
    tmp = tempfile.mkdtemp(prefix="vaultd-bench-backup-")
    os.chmod(tmp, 0o755)
    state, key, sock = (os.path.join(tmp, n) for n in ("state", "root.key", "s.sock"))
    pol = os.path.join(tmp, "policy")
    user = ["--user", "nobody"] if os.geteuid() == 0 else []
    with open(pol, "w") as f:
        f.write("allow user %d role admin\nallow user %d role service collections *\n" % ((os.getuid(),) * 2))
    for cmd in (["--generate-key", key], ["--init", "--state-dir", state, "--key-file", key]):
        subprocess.run([vaultd] + cmd + user, check=True, capture_output=True)
    d = subprocess.Popen([vaultd, "--state-dir", state, "--key-file", key, "--policy", pol, "--socket", sock]
                         + user, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(sock)
                break
            except OSError:
                time.sleep(0.01)
        t = time.monotonic()
        bench(build, sock, 8, args.versions // 8, 16, 1024)
        print("filled: %d record versions of 1 KiB in %.1f s" % (args.versions, time.monotonic() - t))
        alone = bench(build, sock, 8, args.load, 1, 1024)
        # The same load, with backups taken one after another until it ends.
        load = subprocess.Popen(loadgen(build, sock, 8, args.load, 1, 1024), stdout=subprocess.PIPE, text=True)
        copies = []
        while load.poll() is None:
            path = os.path.join(tmp, "backup-%d.mdb" % len(copies))
            t = time.monotonic()
            r = subprocess.run([vaultctl, "--socket", sock, "--json", "backup", path], capture_output=True,
                               text=True)
            if r.returncode != 0:
                sys.exit("backup failed: " + r.stdout + r.stderr)
            copies.append((time.monotonic() - t, json.loads(r.stdout)["size"]))
            os.unlink(path)
        during = json.loads(load.communicate()[0])
        store = os.path.getsize(os.path.join(state, "data.mdb"))
        print("store: %.1f MiB (data.mdb)" % (store / 2**20))
        print("backups during the load: %d, each %.2f-%.2f s, %.1f MiB" % (
            len(copies), min(c[0] for c in copies), max(c[0] for c in copies), copies[-1][1] / 2**20))
        for name, r in (("Puts alone", alone), ("Puts during backups", during)):
            print("%-20s %6d requests %7.0f/s  p50 %6.2f ms  p99 %6.2f ms" % (
                name, r["requests"], r["per_second"], r["p50_us"] / 1000, r["p99_us"] / 1000))
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
