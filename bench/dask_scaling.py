#!/usr/bin/env python3
"""Dask scale-out of `crest run`: wall time of crest.dask.run_files on a distributed
LocalCluster of 1 and of 2 worker processes (one thread each), cluster start-up
excluded; the workers write their parts' decisions to files (output_dir), as a
cluster would to shared storage. The decisions' MD5 shows a speed-up that changed them.

    PYTHONPATH=python CREST_LIBRARY=build/engine/libcrest_eval.so \
        python3 bench/dask_scaling.py INPUT.csv [--policy P] [--blocksize BYTES] [--repeat 3]
"""

import argparse
import hashlib
import shutil
import statistics
import tempfile
import time

import distributed

import crest
import crest.dask as cdask


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("--policy")
    ap.add_argument("--blocksize", type=int, default=16 << 20)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    t = time.perf_counter()
    one = crest.run_csv(a.input, policy=a.policy, threads=1, passthrough="none")
    print("one process, 1 thread: %.2f s, md5 %s" % (time.perf_counter() - t, hashlib.md5(one).hexdigest()))
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None, host="127.0.0.1") as cluster, \
                distributed.Client(cluster):
            times = []
            for _ in range(a.repeat):
                d = tempfile.mkdtemp()
                t = time.perf_counter()
                files, _, counts = cdask.run_files(a.input, policy=a.policy, passthrough="none",
                                                   blocksize=a.blocksize, raw=True, output_dir=d)
                times.append(time.perf_counter() - t)
                out = b"".join(open(f, "rb").read() for f in files)
                shutil.rmtree(d)
            print("%d worker(s): median %.2f s of %s, md5 %s, rows %d" % (
                workers, statistics.median(times), ", ".join("%.2f" % x for x in times),
                hashlib.md5(out).hexdigest(), counts["rows_in"]))


if __name__ == "__main__":
    main()
