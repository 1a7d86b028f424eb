"""rf_sklearn.py - the scikit-learn reference for bench_rf.sh and for the
accuracy figures: RandomForestRegressor(n_estimators=120, n_jobs=1,
otherwise default settings), timed the way rf_speed.c times our forest.

  rf_sklearn.py fit TRACE FEATURES TARGETS SEED         -> fit_s <seconds>
  rf_sklearn.py predict TRACE FEATURES TARGETS ROWS     -> batch_rows_per_s
        (median of 3 batches of ROWS rows, the trace's rows repeated),
        single_us (mean of 300 one-row calls, as the published simulator did)
  rf_sklearn.py accuracy TRACE FEATURES TARGETS SEED TEST_FRAC [GROUP_COLS]
        -> one line per target: target,r2,nmae on the held-out rows, where
        the held-out rows are exactly those `rf-fit fit --seed SEED
        --test-frac TEST_FRAC [--group-by GROUP_COLS]` holds out (its RNG
        and shuffle are mirrored below)

EMPTY=<column> in the environment drops rows where that column is 0, the
same rows rf-fit drops by default. CPUTIME=1 times with this thread's CPU
time instead of wall time (as rf_speed.c does; steadier on a shared
machine). Run with Debian's /usr/bin/python3
(python3-sklearn, python3-numpy).
"""
import os
import sys
import time

import numpy as np
from sklearn.ensemble import RandomForestRegressor


def load(path, feats, targs):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    col = {name: i for i, name in enumerate(header)}
    keep = np.ones(len(data), dtype=bool)
    empty = os.environ.get("EMPTY")
    if empty:
        keep = data[:, col[empty]] != 0
    data = data[keep]
    X = data[:, [col[c] for c in feats.split(",")]]
    Y = data[:, [col[c] for c in targs.split(",")]]
    return data, col, X, (Y[:, 0] if Y.shape[1] == 1 else Y)


M64 = (1 << 64) - 1

now = time.thread_time if os.environ.get("CPUTIME") else time.perf_counter


class MeshrlRng:
    """tools/lib/rng.c: xoshiro256** seeded through splitmix64 by (seed,
    stream), and mr_rng_below (Lemire's multiply-shift with rejection)."""

    def __init__(self, seed, stream):
        x = [seed & M64]
        y = [self._splitmix(x) ^ ((stream * 0xD1342543DE82EF95) & M64)]
        self.s = [self._splitmix(y) for _ in range(4)]

    @staticmethod
    def _splitmix(x):
        x[0] = (x[0] + 0x9E3779B97F4A7C15) & M64
        z = x[0]
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def u64(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        m = self.u64() * n
        if (m & M64) < n:
            t = ((1 << 64) - n) % n
            while (m & M64) < t:
                m = self.u64() * n
        return m >> 64


def rf_fit_split(n, frac, seed, keys=None):
    """The rows rf-fit's make_split (tools/rf-fit/main.c) puts in the test
    set: a shuffle of rows, or of groups of equal keys, from stream 2^64-1."""
    rng = MeshrlRng(seed, M64)

    def shuffle(order):
        for i in range(len(order) - 1):
            j = i + rng.below(len(order) - i)
            order[i], order[j] = order[j], order[i]
        return order

    test = np.zeros(n, dtype=bool)
    if keys is None:
        order = shuffle(list(range(n)))
        test[order[: int(np.ceil(frac * n))]] = True
        return test
    rows = sorted(range(n), key=lambda i: (tuple(keys[i]), i))
    gid, g = np.zeros(n, dtype=int), 0
    for k in range(1, n):
        if tuple(keys[rows[k]]) != tuple(keys[rows[k - 1]]):
            g += 1
        gid[rows[k]] = g
    groups = shuffle(list(range(g + 1)))
    test_groups = set(groups[: int(np.ceil(frac * (g + 1)))])
    return np.array([gid[i] in test_groups for i in range(n)])


def model(seed):
    return RandomForestRegressor(n_estimators=120, n_jobs=1, random_state=seed)


def main():
    cmd, path, feats, targs = sys.argv[1:5]
    data, col, X, Y = load(path, feats, targs)
    if cmd == "fit":
        m = model(int(sys.argv[5]))
        t0 = now()
        m.fit(X, Y)
        print("fit_s %.4f rows %d" % (now() - t0, len(X)))
    elif cmd == "predict":
        rows = int(sys.argv[5])
        m = model(0).fit(X, Y)
        B = X[np.arange(rows) % len(X)]
        m.predict(B[:1000])  # warm-up
        runs = []
        for _ in range(3):
            t0 = now()
            m.predict(B)
            runs.append(now() - t0)
        batch = sorted(runs)[1]
        calls = 300
        t0 = now()
        for i in range(calls):
            m.predict(X[i % len(X)].reshape(1, -1))
        single = (now() - t0) / calls
        print("batch_rows_per_s %.0f single_us %.1f" % (rows / batch, single * 1e6))
    elif cmd == "accuracy":
        seed, frac = int(sys.argv[5]), float(sys.argv[6])
        keys = None
        if len(sys.argv) > 7:
            keys = data[:, [col[c] for c in sys.argv[7].split(",")]]
        test = rf_fit_split(len(X), frac, seed, keys)
        m = model(seed).fit(X[~test], Y[~test])
        P = m.predict(X[test]).reshape(test.sum(), -1)
        Yt = Y[test].reshape(test.sum(), -1)
        for j, name in enumerate(targs.split(",")):
            y, p = Yt[:, j], P[:, j]
            r2 = 1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum()
            print("%s,%.6f,%.6f" % (name, r2, np.abs(y - p).mean() / y.mean()))
    else:
        sys.exit("rf_sklearn.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
