"""rf_sklearn.py - the scikit-learn reference for bench_rf.sh and for the
accuracy figures: RandomForestRegressor(n_estimators=120, n_jobs=1,
otherwise default settings), timed the way rf_speed.c times our forest.

  rf_sklearn.py fit TRACE FEATURES TARGETS SEED         -> fit_s <seconds>
  rf_sklearn.py predict TRACE FEATURES TARGETS ROWS     -> batch_rows_per_s,
        single_us (one row per call, as the published simulator did)
  rf_sklearn.py accuracy TRACE FEATURES TARGETS SEED TEST_FRAC [GROUP_COLS]
        -> one line per target: target,r2,nmae on the held-out rows

EMPTY=<column> in the environment drops rows where that column is 0, the
same rows rf-fit drops by default. Run with Debian's /usr/bin/python3
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


def model(seed):
    return RandomForestRegressor(n_estimators=120, n_jobs=1, random_state=seed)


def main():
    cmd, path, feats, targs = sys.argv[1:5]
    data, col, X, Y = load(path, feats, targs)
    if cmd == "fit":
        m = model(int(sys.argv[5]))
        t0 = time.perf_counter()
        m.fit(X, Y)
        print("fit_s %.4f rows %d" % (time.perf_counter() - t0, len(X)))
    elif cmd == "predict":
        rows = int(sys.argv[5])
        m = model(0).fit(X, Y)
        B = X[np.arange(rows) % len(X)]
        m.predict(B[:1000])  # warm-up
        t0 = time.perf_counter()
        m.predict(B)
        batch = time.perf_counter() - t0
        calls = 300
        t0 = time.perf_counter()
        for i in range(calls):
            m.predict(X[i % len(X)].reshape(1, -1))
        single = (time.perf_counter() - t0) / calls
        print("batch_rows_per_s %.0f single_us %.1f" % (rows / batch, single * 1e6))
    elif cmd == "accuracy":
        seed, frac = int(sys.argv[5]), float(sys.argv[6])
        rng = np.random.default_rng(seed)
        n = len(X)
        if len(sys.argv) > 7:
            g = data[:, [col[c] for c in sys.argv[7].split(",")]]
            _, gid = np.unique(g, axis=0, return_inverse=True)
            groups = rng.permutation(gid.max() + 1)
            test_groups = groups[: int(np.ceil(frac * len(groups)))]
            test = np.isin(gid, test_groups)
        else:
            test = np.zeros(n, dtype=bool)
            test[rng.permutation(n)[: int(np.ceil(frac * n))]] = True
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
