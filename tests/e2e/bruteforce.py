#!/usr/bin/env python3
"""bruteforce.py - an independent check of sim-env's optimum.

    bruteforce.py NAME MODEL OPTIMAL.csv [RUN.csv]

NAME is a shipped objective (delay, throughput, cost, differentiation,
delay-tnsm, throughput-cnsm). Its grids and its reward are written here
again, from the documented formula of each objective file, not read from
the file: a constant changed in the file then shows up as a difference.
Every state and action is enumerated, the system model MODEL is asked for
all of them at once (rf-fit predict, found on PATH), and the best action
per state is compared with OPTIMAL.csv (sim-env optimal's output): the
same reward within 1e-9 and an action whose reward is that best one (the
same action, or one tied with it). Incremental objectives (cost) are
solved by value iteration over (loads, configuration) instead, as sim-env
optimal documents. RUN.csv (sim-env run, any policy) is checked row by row
against the same rewards, so the formula is checked off the optimum too.

Prints one summary line on success; the differences on stderr and exit 1
otherwise.
"""
import csv
import math
import os
import subprocess
import sys
import tempfile

EPS = 1e-9          # rewards and delays of the exhaustive optimum
EPS_VI = 1e-7       # value iteration (relative): sim-env stops at 1e-10
EPS_RUN = 1e-6      # sim-env run prints rewards in single precision


def grid(lo, hi, step):
    """lo..hi step: values as their decimal reading (0.6, not 3 * 0.2)."""
    n = int(round((hi - lo) / step))
    return [round(lo + i * step, 10) for i in range(n + 1)]


def logistic_factor(delay, bound, width):
    """1 within the bound, else 2 / (1 + exp((delay - bound) / width))."""
    if delay <= bound:
        return 1.0
    return 2.0 / (1.0 + math.exp((delay - bound) / width))


def judged(delay, served, timeout):
    """Lost requests: the mean over every offered request, an unanswered
    one counted at the timeout (served clipped to 0..1)."""
    s = min(1.0, max(0.0, served))
    return s * delay + (1 - s) * timeout, s


def slowest(p, via1, via2):
    """A service is as slow as the slower node it sends requests to."""
    return max(via1 if p > 0 else 0.0, via2 if p < 1 else 0.0)


class Objective:
    """Grids, model features and reward of one objective.

    states: tuples named by state_names; actions: tuples named by
    action_names; features(state, action) -> {column: value};
    outcome(state, action, pred) -> (reward, delays)."""
    incremental = False
    risk = {}           # target -> quantile across the trees ([model] risk)

    def __init__(self, state_names, states, action_names, actions, targets):
        self.state_names, self.states = state_names, states
        self.action_names, self.actions = action_names, actions
        self.targets = targets


def product(*lists):
    out = [()]
    for values in lists:
        out = [t + (v,) for t in out for v in values]
    return out


# ---------------------------------------------------------------------
# The objectives, each from its file's documented reward.

def obj_delay():
    o = Objective(["load1"], product([4, 8, 12]), ["p", "c"],
                  product(grid(0, 100, 20), grid(1, 5, 1)), ["d1", "served1"])
    o.features = lambda s, a: {"max_l1": s[0], "p1": a[0], "b1": s[0],
                               "c1": a[1]}

    def outcome(s, a, pred):
        # timeout 2 s (the front's, as its trace was made), at least 95 %
        # answered; a miss on the share alone costs nothing beyond losing
        # 6 - c
        d, share = judged(pred["d1"], pred["served1"], 2)
        if d <= 0.6 and share >= 0.95:
            return 6 - a[1], (d,)
        return min(0.0, 0.6 - d), (d,)
    o.outcome = outcome
    # [model] risk = q90: d1 at the 0.9-quantile across the trees (upper),
    # served1 at the 0.1-quantile (lower)
    o.risk = {"d1": 0.9, "served1": 0.1}
    return o


def obj_delay_tnsm():
    # The published training reward: the delay rounded to 1 ms, offset by
    # 0.4 s and compared with O = 1.0; the reward rounded to 3 decimals.
    o = Objective(["load1"], product([4, 8, 12]), ["p", "c"],
                  product(grid(0, 100, 20), grid(1, 5, 1)), ["d1"])
    o.features = lambda s, a: {"max_l1": s[0], "l1": 5 * s[0],
                               "cl1": 5 * s[0], "p1": a[0], "b1": s[0],
                               "c1": a[1]}

    def outcome(s, a, pred):
        k = round(pred["d1"], 3)
        shifted = k + 0.4
        r = 6 - a[1] if shifted <= 1.0 else round(1.0 - shifted, 3)
        return r, (k,)
    o.outcome = outcome
    return o


def obj_throughput():
    loads = [5, 10, 15, 20]
    o = Objective(["load1", "load2", "O1", "O2"],
                  product(loads, loads, [0.035, 0.04, 0.045, 0.05],
                          [0.110, 0.111, 0.112, 0.113]),
                  ["p11", "p21", "b1", "b2"],
                  product(*[grid(0, 0.8, 0.2)] * 4),
                  ["d11", "d12", "d21", "d22", "served1", "served2"])
    o.features = lambda s, a: {"p11": a[0], "p21": a[1], "b1": a[2],
                               "b2": a[3], "c1": 1, "c2": 1,
                               "l1": s[0], "l2": s[1]}

    def outcome(s, a, pred):
        # carried: the answered share of the offered load
        slow1 = slowest(a[0], pred["d11"], pred["d12"])
        slow2 = slowest(a[1], pred["d21"], pred["d22"])
        r = (s[0] * pred["served1"] * logistic_factor(slow1, s[2], 0.005) +
             s[1] * pred["served2"] * logistic_factor(slow2, s[3], 0.005))
        return r, (slow1, slow2)
    o.outcome = outcome
    # [model] risk = q90: the delays at the 0.9-quantile across the trees
    # (upper), the served shares at the 0.1-quantile (lower)
    o.risk = {"d11": 0.9, "d12": 0.9, "d21": 0.9, "d22": 0.9,
              "served1": 0.1, "served2": 0.1}
    return o


def obj_throughput_cnsm():
    # The published CNSM 2022 reward: fixed thresholds 0.035 s and
    # 0.110 s, logistic midpoints 0.05 s and 0.113 s, steepness 200.
    loads = [5, 10, 15, 20]
    o = Objective(["load1", "load2"], product(loads, loads),
                  ["p11", "p21", "b1", "b2"],
                  product(*[grid(0, 0.8, 0.2)] * 4),
                  ["d11", "d12", "d21", "d22"])
    o.features = lambda s, a: {"p11": a[0] * 100, "p21": a[1] * 100,
                               "b1": a[2], "b2": a[3],
                               "l1": s[0], "l2": s[1]}

    def served(load, blocked, p):
        kept = load * (1 - blocked)
        return round(kept * p, 1) + round(kept * (1 - p), 1)

    def part(carried, delay, threshold, midpoint):
        if delay <= threshold:
            return carried
        return carried / (1 + math.exp(200 * (delay - midpoint)))

    def outcome(s, a, pred):
        s1 = max(round(pred["d11"], 4), round(pred["d12"], 4))
        s2 = max(round(pred["d21"], 3), round(pred["d22"], 3))
        r = (part(served(s[0], a[2], a[0]), s1, 0.035, 0.05) +
             part(served(s[1], a[3], a[1]), s2, 0.110, 0.113))
        return r, (s1, s2)
    o.outcome = outcome
    return o


def obj_differentiation():
    levels = [2, 4, 6]
    o = Objective(["load1", "load2"], product(levels, levels),
                  ["p1p", "p1f", "rate", "c"],
                  product([0, 50, 100], [0, 50, 100], [1, 2, 4, 8],
                          [1, 3, 5]),
                  ["d1p", "d1f", "served1", "served2"])
    o.features = lambda s, a: {"max_l1p": s[0], "max_l1f": s[1],
                               "p1p": a[0], "p1f": a[1], "b1f": a[2],
                               "c1": a[3]}

    def outcome(s, a, pred):
        # premium: judged over every offered request (timeout 2 s), met
        # only with >= 95 % answered; freemium: its answered share
        d1, prem = judged(pred["d1p"], pred["served1"], 2)
        d2 = pred["d1f"]
        if d1 > 0.6 or prem < 0.95:
            r = -1 - max(0.0, d1 - 0.6) / 0.6
        else:
            share = pred["served2"]
            r = 1 + share * logistic_factor(d2, 1.5, 0.3) - 0.02 * a[3]
        return r, (d1, d2)
    o.outcome = outcome
    return o


def obj_cost():
    # Incremental: the state is the loads and the running configuration;
    # a step moves each component one grid step (or not) and is rewarded
    # for the configuration it moved to.
    levels = [5, 10, 15]
    dims = [grid(0, 0.8, 0.2), grid(0, 0.8, 0.2), grid(1, 5, 1),
            grid(1, 5, 1)]
    o = Objective(["load1", "load2"], product(levels, levels),
                  ["p1", "p2", "c1", "c2"], product(*dims),
                  ["d11", "d12", "d21", "d22", "served1", "served2"])
    o.incremental, o.dims, o.gamma, o.hold = True, dims, 0.99, 20
    o.features = lambda s, a: {"p11": a[0], "p21": a[1], "b1": 0, "b2": 0,
                               "c1": a[2], "c2": a[3],
                               "l1": s[0], "l2": s[1]}

    def outcome(s, a, pred):
        # judged over every offered request (timeout 2 s), bounds met
        # only with >= 95 % answered
        slow1, s1 = judged(slowest(a[0], pred["d11"], pred["d12"]),
                           pred["served1"], 2)
        slow2, s2 = judged(slowest(a[1], pred["d21"], pred["d22"]),
                           pred["served2"], 2)
        if slow1 <= 0.95 and slow2 <= 0.115 and min(s1, s2) >= 0.95:
            r = (1 - (a[2] + a[3]) / 10) * (1 - a[0]) * (1 - a[1])
        else:
            r = -1.0
        return r, (slow1, slow2)
    o.outcome = outcome
    return o


OBJECTIVES = {"delay": obj_delay, "delay-tnsm": obj_delay_tnsm,
              "throughput": obj_throughput,
              "throughput-cnsm": obj_throughput_cnsm,
              "cost": obj_cost, "differentiation": obj_differentiation}


# ---------------------------------------------------------------------
# The model: every distinct feature row, predicted in one rf-fit call.

def predict_all(o, model):
    """{(state, action): (reward, delays)} over every pair."""
    pairs = [(s, a) for s in o.states for a in o.actions]
    rows, index = [], {}
    for s, a in pairs:
        f = o.features(s, a)
        key = tuple(sorted(f.items()))
        if key not in index:
            index[key] = len(rows)
            rows.append(f)
    cols = list(rows[0])
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as out:
            w = csv.writer(out)
            w.writerow(cols)
            for f in rows:
                w.writerow([repr(float(f[c])) for c in cols])
        cmd = ["rf-fit", "predict", "-q"] + (["--trees"] if o.risk else [])
        res = subprocess.run(cmd + [model, path],
                             stdout=subprocess.PIPE, check=True,
                             universal_newlines=True)
    finally:
        os.unlink(path)
    got = list(csv.DictReader(res.stdout.splitlines()))
    if len(got) != len(rows):
        sys.exit("bruteforce: rf-fit predict gave %d rows for %d"
                 % (len(got), len(rows)))
    preds = [{t: target_value(g, t, o.risk.get(t)) for t in o.targets}
             for g in got]
    out = {}
    for s, a in pairs:
        key = tuple(sorted(o.features(s, a).items()))
        out[(s, a)] = o.outcome(s, a, preds[index[key]])
    return out


def quantile(values, q):
    """numpy's default: linear between the order statistics around
    (n - 1) q."""
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def target_value(row, target, q):
    """The model's value of target in an rf-fit predict row: the mean
    column, or (risk) the q-quantile of the per-tree columns."""
    if q is None and target + "_pred" in row:
        return float(row[target + "_pred"])
    trees = [float(v) for k, v in row.items()
             if k.startswith(target + "_tree")]
    if q is None:
        return math.fsum(trees) / len(trees)
    return quantile(trees, q)


def close(x, y, eps):
    return abs(x - y) <= eps * (1 + abs(y))


def key_of(values):
    return tuple(round(float(v), 9) for v in values)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------
# Absolute actions: the best action per state, exhaustively.

def check_absolute(o, table, optimal):
    errors, ties = [], 0
    skeys = {key_of(s): s for s in o.states}
    akeys = {key_of(a): a for a in o.actions}
    seen = set()
    for row in optimal:
        sk = key_of(row[n] for n in o.state_names)
        ak = key_of(row[n] for n in o.action_names)
        if sk not in skeys or ak not in akeys:
            errors.append("state %s action %s: not on the grids" % (sk, ak))
            continue
        s, a = skeys[sk], akeys[ak]
        seen.add(s)
        best_a = max(o.actions, key=lambda b: table[(s, b)][0])
        best, _ = table[(s, best_a)]
        mine, delays = table[(s, a)]
        got = float(row["reward"])
        where = "state %s" % dict(zip(o.state_names, s))
        if not close(got, best, EPS):
            errors.append("%s: sim-env's best reward %.12g, brute force %.12g"
                          " (at %s)" % (where, got, best,
                                        dict(zip(o.action_names, best_a))))
        elif not close(mine, best, EPS):
            errors.append("%s: sim-env's action %s earns %.12g here, the "
                          "best is %.12g at %s" % (
                              where, dict(zip(o.action_names, a)), mine,
                              best, dict(zip(o.action_names, best_a))))
        elif a != best_a:
            ties += 1
        check_delays(row, delays, where, errors)
    missing = [s for s in o.states if s not in seen]
    if missing:
        errors.append("%d states missing from the optimum, e.g. %s"
                      % (len(missing), missing[0]))
    return errors, "%d states x %d actions, %d tied otherwise" % (
        len(o.states), len(o.actions), ties)


def check_delays(row, delays, where, errors):
    for j, d in enumerate(delays):
        name = "delay%d" % (j + 1)
        if name in row and not close(float(row[name]), d, EPS):
            errors.append("%s: %s %.12g, brute force %.12g"
                          % (where, name, float(row[name]), d))


# ---------------------------------------------------------------------
# Incremental actions: value iteration over (loads, configuration).

def neighbour_max(values, dims):
    """Each configuration's best value within one grid step per
    component: a max filter of radius 1 along every axis in turn."""
    stride, out = 1, list(values)
    for n in reversed([len(d) for d in dims]):
        prev = out
        out = []
        for i, v in enumerate(prev):
            x = (i // stride) % n
            if x > 0 and prev[i - stride] > v:
                v = prev[i - stride]
            if x < n - 1 and prev[i + stride] > v:
                v = prev[i + stride]
            out.append(v)
        stride *= n
    return out


def load_chain(o):
    """P(next loads | loads): each service keeps its level or, with
    probability 1 / hold, draws a uniform one (possibly the same)."""
    per = [len({s[j] for s in o.states}) for j in range(len(o.state_names))]
    q = 1.0 / o.hold
    chain = []
    for s in range(len(o.states)):
        row = []
        for t in range(len(o.states)):
            p, a, b = 1.0, s, t
            for n in reversed(per):
                i, k = a % n, b % n
                p *= (1 - q if i == k else 0) + q / n
                a, b = a // n, b // n
            row.append(p)
        chain.append(row)
    return chain


def value_iteration(o, rewards):
    """W[l][c]: the value of moving to configuration c at loads l (its
    reward now and the discounted future); V = the best W in reach.
    Stops on MacQueen's bounds, well inside sim-env's tolerance."""
    nl, nc, g = len(o.states), len(o.actions), o.gamma
    chain = load_chain(o)
    V = [[0.0] * nc for _ in range(nl)]
    W = None
    for _ in range(100000):
        W = [[rewards[l][c] + g * sum(chain[l][m] * V[m][c]
                                      for m in range(nl))
              for c in range(nc)] for l in range(nl)]
        Vn = [neighbour_max(W[l], o.dims) for l in range(nl)]
        diff = [Vn[l][c] - V[l][c] for l in range(nl) for c in range(nc)]
        lo, hi = min(diff), max(diff)
        V = Vn
        scale = max(1.0, max(abs(v) for row in V for v in row))
        if g / (1 - g) * (hi - lo) <= 1e-12 * scale:
            shift = g / (1 - g) * (hi + lo) / 2
            V = [[v + shift for v in row] for row in V]
            break
    else:
        sys.exit("bruteforce: value iteration did not converge")
    return [[rewards[l][c] + g * sum(chain[l][m] * V[m][c]
                                     for m in range(nl))
             for c in range(nc)] for l in range(nl)]


def check_incremental(o, table, optimal):
    errors, ties = [], 0
    rewards = [[table[(s, c)][0] for c in o.actions] for s in o.states]
    W = value_iteration(o, rewards)
    sidx = {key_of(s): i for i, s in enumerate(o.states)}
    cidx = {key_of(c): i for i, c in enumerate(o.actions)}
    names = o.action_names
    seen = set()
    for row in optimal:
        l = sidx.get(key_of(row[n] for n in o.state_names))
        c = cidx.get(key_of(row[n] for n in names))
        cn = cidx.get(key_of(row[n + "_next"] for n in names))
        if l is None or c is None or cn is None:
            errors.append("row not on the grids: %s" % row)
            continue
        seen.add((l, c))
        here = o.actions[c]
        where = "state %s %s" % (dict(zip(o.state_names, o.states[l])),
                                 dict(zip(names, here)))
        moved = [row[n + "_next"] for n in names]
        steps = [o.dims[k].index(o.actions[cn][k]) -
                 o.dims[k].index(here[k]) for k in range(len(names))]
        if any(abs(d) > 1 for d in steps):
            errors.append("%s: moved to %s, out of reach" % (where, moved))
            continue
        reach = [i for i, x in enumerate(o.actions)
                 if all(abs(o.dims[k].index(x[k]) - o.dims[k].index(here[k]))
                        <= 1 for k in range(len(names)))]
        best = max(reach, key=lambda i: W[l][i])
        r, delays = table[(o.states[l], o.actions[cn])]
        if not close(float(row["reward"]), r, EPS):
            errors.append("%s: reward %.12g, brute force %.12g"
                          % (where, float(row["reward"]), r))
        if not close(W[l][cn], W[l][best], EPS_VI):
            errors.append("%s: sim-env moves to %s (value %.10g), the best "
                          "is %s (%.10g)" % (where, moved, W[l][cn],
                                             o.actions[best], W[l][best]))
        elif cn != best:
            ties += 1
        if not close(float(row["value"]), W[l][cn], EPS_VI):
            errors.append("%s: value %.10g, brute force %.10g"
                          % (where, float(row["value"]), W[l][cn]))
        check_delays(row, delays, where, errors)
    if len(seen) != len(o.states) * len(o.actions):
        errors.append("%d of %d states in the optimum"
                      % (len(seen), len(o.states) * len(o.actions)))
    return errors, "%d load states x %d configurations, value iteration, " \
        "%d tied otherwise" % (len(o.states), len(o.actions), ties)


# ---------------------------------------------------------------------
# A run of any policy: each step's reward from the same table.

def check_run(o, table, run):
    errors = []
    skeys = {key_of(s): s for s in o.states}
    akeys = {key_of(a): a for a in o.actions}
    suffix = "_next" if o.incremental else ""
    for row in run:
        s = skeys.get(key_of(row[n] for n in o.state_names))
        a = akeys.get(key_of(row[n + suffix] for n in o.action_names))
        if s is None or a is None:
            errors.append("run step %s env %s: not on the grids"
                          % (row["step"], row["env"]))
            continue
        r, delays = table[(s, a)]
        if not close(float(row["reward"]), r, EPS_RUN):
            errors.append("run step %s env %s (%s %s): reward %.9g, brute "
                          "force %.9g" % (row["step"], row["env"], s, a,
                                          float(row["reward"]), r))
        check_delays(row, delays, "run step %s env %s" % (row["step"],
                                                          row["env"]),
                     errors)
    return errors, "%d run steps" % len(run)


def main(argv):
    if len(argv) not in (4, 5) or argv[1] not in OBJECTIVES:
        sys.exit("usage: bruteforce.py {%s} MODEL OPTIMAL.csv [RUN.csv]"
                 % ",".join(sorted(OBJECTIVES)))
    o = OBJECTIVES[argv[1]]()
    table = predict_all(o, argv[2])
    check = check_incremental if o.incremental else check_absolute
    errors, what = check(o, table, read_csv(argv[3]))
    if len(argv) == 5:
        more, steps = check_run(o, table, read_csv(argv[4]))
        errors += more
        what += ", " + steps
    if errors:
        for e in errors[:20]:
            print("bruteforce %s: %s" % (argv[1], e), file=sys.stderr)
        print("bruteforce %s: %d differences (%s)"
              % (argv[1], len(errors), what), file=sys.stderr)
        return 1
    print("bruteforce %s: sim-env agrees (%s)" % (argv[1], what))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
