#!/usr/bin/env python3
"""vanished.py [--uidcache PATH] [--messages N,...] [--removals K,...] [--seed S]

The cost of removing k random messages from a cache of n with one `* VANISHED uid-set`
(QRESYNC) against the same removals as k `* n EXPUNGE` lines, in the same run, through
`uidcache replay --no-fsync` (so parsing and the commit are included in both). Prints one
row per (n, k): seconds for each and the ratio VANISHED / EXPUNGE. Both replays must end in
the same `uidcache dump`, which is checked.

Default: n = 1,000,000 and 10,000,000; k = 10,000 and 100,000. Needs a release build:
`cargo build --release -p uidcache-cli`.
"""
import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def replay(uidcache, cache, transcript):
    t0 = time.monotonic()
    subprocess.run([uidcache, "replay", "--no-fsync", cache, transcript], check=True)
    return time.monotonic() - t0


def digest(uidcache, cache):
    out = subprocess.run([uidcache, "dump", cache], check=True, capture_output=True).stdout
    return hashlib.sha256(out).hexdigest()


def main():
    here = os.path.dirname(os.path.realpath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--uidcache", default=os.path.join(here, "../../target/release/uidcache"))
    ap.add_argument("--messages", default="1000000,10000000")
    ap.add_argument("--removals", default="10000,100000")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    print(f"{'messages':>10} {'removed':>8} {'VANISHED s':>11} {'EXPUNGE s':>10} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, a.messages.split(",")):
            base = os.path.join(tmp, "base.txt")
            with open(base, "w") as f:
                f.write(f"C: a SELECT INBOX\nS: * {n} EXISTS\nS: * OK [UIDVALIDITY 7] x\n"
                        f"S: a OK done\nC: b UID SEARCH RETURN (ALL) 1:{n}\n"
                        f"S: * ESEARCH (TAG \"b\") UID ALL 1:{n}\nS: b OK done\n")
            seed_cache = os.path.join(tmp, "seed")
            shutil.rmtree(seed_cache, ignore_errors=True)
            replay(a.uidcache, seed_cache, base)
            for k in map(int, a.removals.split(",")):
                uids = sorted(rng.sample(range(1, n + 1), k))
                van = os.path.join(tmp, "van.txt")
                exp = os.path.join(tmp, "exp.txt")
                with open(van, "w") as f:
                    f.write("C: c NOOP\nS: * VANISHED " + ",".join(map(str, uids)) + "\nS: c OK done\n")
                with open(exp, "w") as f:
                    f.write("C: c NOOP\n")
                    # UIDs equal sequence numbers in the seed cache; highest first, so that
                    # each EXPUNGE names the message's current number.
                    f.writelines(f"S: * {u} EXPUNGE\n" for u in reversed(uids))
                    f.write("S: c OK done\n")
                times = {}
                digests = {}
                for name, t in (("vanished", van), ("expunge", exp)):
                    cache = os.path.join(tmp, name)
                    shutil.rmtree(cache, ignore_errors=True)
                    shutil.copytree(seed_cache, cache)
                    times[name] = replay(a.uidcache, cache, t)
                    digests[name] = digest(a.uidcache, cache)
                if digests["vanished"] != digests["expunge"]:
                    sys.exit(f"n={n} k={k}: VANISHED and EXPUNGE give different dumps")
                print(f"{n:>10} {k:>8} {times['vanished']:>11.2f} {times['expunge']:>10.2f} "
                      f"{times['vanished'] / times['expunge']:>6.2f}")


if __name__ == "__main__":
    main()
