#!/usr/bin/env python3
"""live_feed.py — latency of `crest run` on a live feed.

Writes declarations into crest run's stdin through a pipe that stays open, at a
steady rate, and timestamps each decision line as it appears on crest's stdout.
Prints, for the rows sent: how many decisions appeared before the pipe was
closed, and the latency (row written -> its decision read) p50 / p90 / p99 / max.

  bench/live_feed.py --crest build/crest --rate 10 --rows 50 [--threads 1] [-- crest run options]

The rows are datasets/samples/demo.csv's (repeated with new ids when more are
asked for). Timings depend on the machine's load: compare within one run.
"""
import argparse
import os
import subprocess
import sys
import threading
import time


def rows_from(path, n):
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        body = [line for line in f if line.strip() and '"' not in line]
    out = []
    k = 0
    while len(out) < n:
        line = body[k % len(body)]
        rest = line.split(",", 1)[1]
        out.append(f"LIVE{len(out):09d},{rest}")
        k += 1
    return header, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crest", default="build/crest")
    ap.add_argument("--rate", type=float, default=10.0, help="rows per second")
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--input", default=os.path.join(os.path.dirname(__file__), "..", "datasets", "samples", "demo.csv"))
    ap.add_argument("--hold", type=float, default=1.0, help="seconds the pipe stays open after the last row")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    header, rows = rows_from(a.input, a.rows)
    cmd = [a.crest, "run", "--no-progress", "-q", "--threads", a.threads] + a.extra + ["-"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    sent = {}
    seen = {}
    closed_at = [None]

    def reader():
        buf = b""
        while True:
            chunk = p.stdout.read1(65536) if hasattr(p.stdout, "read1") else os.read(p.stdout.fileno(), 65536)
            if not chunk:
                return
            now = time.monotonic()
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                did = line.split(b",", 1)[0].decode()
                if did.startswith("LIVE") and did not in seen:
                    seen[did] = now

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    os.write(p.stdin.fileno(), header.encode())
    t0 = time.monotonic()
    for i, row in enumerate(rows):
        due = t0 + i / a.rate
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        did = row.split(",", 1)[0]
        sent[did] = time.monotonic()
        os.write(p.stdin.fileno(), row.encode())
    time.sleep(a.hold)
    closed_at[0] = time.monotonic()
    before_close = sum(1 for k, v in seen.items() if v <= closed_at[0])
    p.stdin.close()
    p.wait()
    t.join(timeout=5)
    lat = sorted((seen[k] - sent[k]) * 1000.0 for k in sent if k in seen and seen[k] <= closed_at[0])
    n = len(rows)

    def q(x):
        return lat[min(len(lat) - 1, int(x * len(lat)))] if lat else float("nan")

    within200 = sum(1 for v in lat if v <= 200.0)
    print(f"rate {a.rate:g}/s rows {n} threads {a.threads}: decided before the pipe closed {before_close}/{n}; "
          f"latency ms p50 {q(0.5):.2f} p90 {q(0.9):.2f} p99 {q(0.99):.2f} max {lat[-1] if lat else float('nan'):.2f}; "
          f"within 200 ms {within200}/{n}")
    return 0 if before_close == n else 1


if __name__ == "__main__":
    sys.exit(main())
