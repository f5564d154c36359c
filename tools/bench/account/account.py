#!/usr/bin/env python3
"""account.py: a Dovecot account of many mailboxes, and what any IMAP client pays to sync it.

  account.py start DIR [--mailboxes 1000] [--big 5] [--big-size 10000] [--small-size 20]
      Starts a throwaway Dovecot in DIR (tests/fixtures/dovecot/start, user test/test, plain
      IMAP on 127.0.0.1) and fills the account in one `doveadm import` from generated mbox
      files: MAILBOXES mailboxes (INBOX, `Archive/aNNNN`, `Lists/lNNNN`), BIG of them with
      BIG_SIZE messages, the rest with SMALL_SIZE; about 1 in 3 messages \\Seen, 1 in 20
      \\Flagged. Prints the port. Needs root (the fixture does).
  account.py change DIR [--mailboxes 10]
      In each of the first N non-INBOX mailboxes: one new message, one flag change, one
      expunge (doveadm).
  account.py measure DIR LABEL -- CMD...
      Runs CMD with `{port}` replaced by a counting proxy's port in front of the server
      (the server offers STARTTLS; `{ca}` is replaced by the CA file that signed it).
      Prints one JSON line: label, seconds (wall), round_trips, bytes_in (to the client),
      bytes_out (from it), client_lines, connections, exit code.
  account.py run DIR -- CMD...
      start must have run. Three measures: `first` (the client's first sync), `unchanged`
      (again, nothing changed), `changed-10` (after `change --mailboxes 10`).
  account.py names N
      The names `start --mailboxes N` made, one per line (for clients that loop).
  account.py stop DIR

Round trips, as `uidcache sync` counts them: each connection's greeting, plus each burst of
client bytes that follows server bytes (a pipelined batch counts once; a reply the client
waits for before writing again is a new one).
"""
import argparse
import json
import os
import random
import shlex
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
FIXTURE = os.path.join(HERE, "../../../tests/fixtures/dovecot")


def doveadm(d, *args, stdin=None):
    return subprocess.run(["doveadm", "-c", os.path.join(d, "dovecot.conf"), *args],
                          input=stdin, check=True, capture_output=True).stdout


def names(n):
    """INBOX, then Archive/aNNNN and Lists/lNNNN alternately (a two-level hierarchy)."""
    out = ["INBOX"]
    for i in range(1, n):
        out.append(f"Archive/a{i:04d}" if i % 2 else f"Lists/l{i:04d}")
    return out


def message(box, i, rng):
    status = "Status: RO\n" if rng.random() < 0.33 else "Status: O\n"
    flagged = "X-Status: F\n" if rng.random() < 0.05 else ""
    return (f"From bench@example.org Mon Dec  7 12:00:00 2026\n"
            f"From: Sender {i % 97} <s{i % 97}@example.org>\n"
            f"To: test@example.org\n"
            f"Subject: message {i} in {box}\n"
            f"Date: Mon, 07 Dec 2026 12:00:00 +0000\n"
            f"Message-ID: <{i}.{box.replace('/', '.')}@bench.example.org>\n"
            f"{status}{flagged}\n"
            f"Body of message {i}: a few words so that the message is not empty.\n\n")


def free_port():
    for _ in range(100):
        p = random.randrange(20000, 32000, 2)
        try:
            for q in (p, p + 1):
                s = socket.socket()
                s.bind(("127.0.0.1", q))
                s.close()
            return p
        except OSError:
            continue
    sys.exit("no free port pair")


def start(a):
    d = os.path.abspath(a.dir)
    os.makedirs(d, exist_ok=True)
    port = free_port()
    subprocess.run([os.path.join(FIXTURE, "start"), d, str(port)], check=True,
                   stdout=subprocess.DEVNULL)
    rng = random.Random(13)
    src = os.path.join(d, "src")
    os.makedirs(src, exist_ok=True)
    boxes = names(a.mailboxes)
    # The big ones are spread over the list, INBOX among them.
    big = set(boxes[:: max(1, len(boxes) // max(1, a.big))][: a.big])
    total = 0
    for box in boxes:
        path = os.path.join(src, box if box != "INBOX" else "inbox")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        n = a.big_size if box in big else a.small_size
        with open(path, "w") as f:
            f.writelines(message(box, i, rng) for i in range(1, n + 1))
        total += n
    # The mbox driver writes its index next to the files, as the fixture's mail user.
    subprocess.run(["chown", "-R", os.environ.get("IMAP_FIXTURE_USER", "imapfix") + ":", src],
                   check=True)
    t0 = time.monotonic()
    # One import of every mbox file below src: each becomes a mailbox (INBOX from `inbox`).
    doveadm(d, "import", "-u", "test", "-s", f"mbox:{src}:INBOX={src}/inbox", "", "all")
    took = time.monotonic() - t0
    listed = doveadm(d, "mailbox", "list", "-u", "test").decode().split()
    with open(os.path.join(d, "bench-port"), "w") as f:
        f.write(str(port))
    print(f"account.py: {len(listed)} mailboxes, {total} messages imported in {took:.1f} s "
          f"({len(big)} of {a.big_size}, the rest {a.small_size} each)", file=sys.stderr)
    print(port)


def port_of(d):
    with open(os.path.join(d, "bench-port")) as f:
        return int(f.read())


def change(a):
    d = os.path.abspath(a.dir)
    boxes = [b for b in names(10 ** 6)[1:]][: a.mailboxes]
    rng = random.Random(7)
    for box in boxes:
        msg = message(box, 10 ** 6 + rng.randrange(10 ** 6), rng).split("\n", 1)[1]
        doveadm(d, "save", "-u", "test", "-m", box, stdin=msg.encode())
        doveadm(d, "flags", "add", "-u", "test", "\\Answered", "mailbox", box, "uid", "2")
        doveadm(d, "expunge", "-u", "test", "mailbox", box, "uid", "1")
    print(f"account.py: changed {len(boxes)} mailboxes", file=sys.stderr)


class Counter:
    """Totals over every proxied connection."""

    def __init__(self):
        self.lock = threading.Lock()
        self.round_trips = self.bytes_in = self.bytes_out = self.client_lines = 0
        self.connections = self.active = 0


def pump(src, dst, counter, state, from_client):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            with counter.lock:
                if from_client:
                    if state["last"] != "client":
                        counter.round_trips += 1
                    state["last"] = "client"
                    counter.bytes_out += len(data)
                    counter.client_lines += data.count(b"\n")
                else:
                    state["last"] = "server"
                    counter.bytes_in += len(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve_proxy(listener, upstream, counter):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        server = socket.create_connection(("127.0.0.1", upstream))
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The greeting is the connection's first round trip.
        state = {"last": "server"}
        with counter.lock:
            counter.connections += 1
            counter.active += 1
            counter.round_trips += 1

        def both(c=client, s=server, st=state):
            t = threading.Thread(target=pump, args=(s, c, counter, st, False), daemon=True)
            t.start()
            pump(c, s, counter, st, True)
            t.join()
            c.close()
            s.close()
            with counter.lock:
                counter.active -= 1

        threading.Thread(target=both, daemon=True).start()


def measure_one(d, label, cmd):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    counter = Counter()
    threading.Thread(target=serve_proxy, args=(listener, port_of(d), counter),
                     daemon=True).start()
    ca = os.path.join(d, "tls/ca.pem")
    argv = [c.replace("{port}", str(port)).replace("{ca}", ca) for c in cmd]
    t0 = time.monotonic()
    rc = subprocess.run(argv, stdout=subprocess.DEVNULL).returncode
    seconds = time.monotonic() - t0
    for _ in range(200):
        with counter.lock:
            if counter.active == 0:
                break
        time.sleep(0.01)
    listener.close()
    row = {"label": label, "seconds": round(seconds, 3), "round_trips": counter.round_trips,
           "bytes_in": counter.bytes_in, "bytes_out": counter.bytes_out,
           "client_lines": counter.client_lines, "connections": counter.connections,
           "exit": rc}
    print(json.dumps(row), flush=True)
    return row


def measure(a):
    measure_one(os.path.abspath(a.dir), a.label, a.cmd)


def run(a):
    d = os.path.abspath(a.dir)
    measure_one(d, "first", a.cmd)
    measure_one(d, "unchanged", a.cmd)
    change(argparse.Namespace(dir=d, mailboxes=10))
    measure_one(d, "changed-10", a.cmd)


def stop(a):
    subprocess.run([os.path.join(FIXTURE, "stop"), os.path.abspath(a.dir)], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("start")
    p.add_argument("dir")
    p.add_argument("--mailboxes", type=int, default=1000)
    p.add_argument("--big", type=int, default=5)
    p.add_argument("--big-size", type=int, default=10000)
    p.add_argument("--small-size", type=int, default=20)
    p.set_defaults(f=start)
    p = sub.add_parser("change")
    p.add_argument("dir")
    p.add_argument("--mailboxes", type=int, default=10)
    p.set_defaults(f=change)
    for name, f in (("measure", measure), ("run", run)):
        p = sub.add_parser(name)
        p.add_argument("dir")
        if name == "measure":
            p.add_argument("label")
        p.add_argument("cmd", nargs=argparse.REMAINDER)
        p.set_defaults(f=f)
    p = sub.add_parser("names")
    p.add_argument("mailboxes", type=int)
    p.set_defaults(f=lambda a: print("\n".join(names(a.mailboxes))))
    p = sub.add_parser("stop")
    p.add_argument("dir")
    p.set_defaults(f=stop)
    a = ap.parse_args()
    if hasattr(a, "cmd"):
        a.cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
        if not a.cmd:
            ap.error("no client command after --")
    a.f(a)


if __name__ == "__main__":
    main()
