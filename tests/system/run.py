#!/usr/bin/python3
"""The runner behind `make check-system`: the system suite (pytest, one
container booting systemd, the .deb installed inside). Ends with one line
'N passed, N failed'."""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb", required=True, help="the vaultd .deb to install and test")
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("tests/system/run.py: run as root (the container tool needs it)")
        print("0 passed, 1 failed")
        return 1
    env = dict(os.environ, VAULTD_DEB=os.path.abspath(args.deb))
    cmd = ["/usr/bin/python3", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s",
           "-o", "console_output_style=classic", HERE] + args.pytest_args
    started = time.monotonic()
    p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last = ""
    for line in p.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.strip():
            last = line
    p.wait()
    passed = int((re.search(r"(\d+) passed", last) or [0, 0])[1])
    failed = int((re.search(r"(\d+) failed", last) or [0, 0])[1])
    failed += int((re.search(r"(\d+) error", last) or [0, 0])[1])
    if p.returncode != 0 and failed == 0:
        failed = 1  # pytest itself failed (collection error, no tests, ...)
    print("system: %.0f s" % (time.monotonic() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
