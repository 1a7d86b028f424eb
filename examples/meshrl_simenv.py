"""meshrl_simenv.py - drive `sim-env serve` from Python.

SimEnvClient speaks the raw sim-env protocol (length-delimited msgpack over
the child's stdin/stdout) and needs only the msgpack package. SingleEnv is
one environment with gymnasium's step semantics and nothing beyond msgpack:
a reset without a seed draws a fresh one, and a step that ends an episode
returns its final observation (not the next episode's first). MeshrlEnv
wraps SingleEnv as a gymnasium.Env (MultiDiscrete actions, action_masks()
for sb3-contrib's MaskablePPO); it exists only when gymnasium and numpy are
installed.

The sim-env executable: exe= when given, else $MESHRL_BIN/sim-env, else
build/bin/sim-env of the repository this file is in, else sim-env on PATH.

From the repository root, after `make` and `make experiment OBJ=delay`
(whose first step fits models/delay/system.msgpack):

    import sys; sys.path.insert(0, "examples")
    from meshrl_simenv import SingleEnv
    env = SingleEnv("pipelines/objectives/delay.obj", model="models/delay/system.msgpack")
    obs, info = env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step([0, 0])
    env.close()

MeshrlEnv takes the same arguments (then env.action_space.sample() gives
an action). The same, as a script: python3 examples/meshrl_simenv.py
pipelines/objectives/delay.obj models/delay/system.msgpack
"""
import os
import random
import shutil
import struct
import subprocess
import sys

import msgpack

SEED_LIMIT = 2**63  # the protocol's seeds are signed 64-bit integers


class SimEnvError(RuntimeError):
    pass


def find_sim_env():
    """The sim-env executable (see the module's docstring)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.environ.get("MESHRL_BIN"), os.path.join(here, "..", "build", "bin")):
        if d and os.access(os.path.join(d, "sim-env"), os.X_OK):
            return os.path.join(d, "sim-env")
    found = shutil.which("sim-env")
    if not found:
        raise SimEnvError("sim-env not found: build it (make), set MESHRL_BIN, or pass exe=")
    return found


class SimEnvClient:
    """N environments behind one `sim-env serve` process."""

    def __init__(self, objective, model=None, load=None, exe=None):
        argv = [exe or find_sim_env(), "serve", objective]
        if model:
            argv += ["--model", model]
        if load:
            argv += ["--load", load]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.spec = self.request({"cmd": "spec"})["spec"]
        except Exception:
            self.close()
            raise

    def request(self, msg):
        body = msgpack.packb(msg, use_bin_type=True)
        self.proc.stdin.write(struct.pack(">I", len(body)) + body)
        self.proc.stdin.flush()
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            raise SimEnvError("sim-env closed the pipe (exit %s)" % self.proc.wait())
        (n,) = struct.unpack(">I", head)
        reply = msgpack.unpackb(self.proc.stdout.read(n), raw=False)
        if not reply.get("ok"):
            raise SimEnvError(reply.get("error", "error without a message"))
        return reply

    def reset(self, seed=None, n=1, eval=False):
        """seed None: a fresh one (from the operating system's entropy)."""
        if seed is None:
            seed = random.SystemRandom().randrange(SEED_LIMIT)
        return self.request({"cmd": "reset", "seed": int(seed), "n": n, "eval": eval})["state"]

    def step(self, actions):
        """actions: one list of choice indices per environment. An
        environment whose episode ended (dones) starts the next one at
        once: its obs is that episode's first, its final_obs (present
        when some episode ended) the ended one's last."""
        return self.request({"cmd": "step", "actions": [[int(a) for a in row] for row in actions]})["state"]

    def close(self):
        """Ends the session and the process; both pipes are closed."""
        if self.proc.poll() is None:
            try:
                self.request({"cmd": "close"})
            except (SimEnvError, OSError, ValueError):
                pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class SingleEnv:
    """One environment with gymnasium's semantics, without gymnasium:
    reset(seed=None) -> (obs, info); step(action) -> (obs, reward,
    terminated, truncated, info). Episodes end with truncated=True at the
    objective's episode length, and obs is then the final observation.
    Observations are lists of floats, the mask a list of 0/1."""

    def __init__(self, objective, model=None, load=None, exe=None, eval=False):
        self.client = SimEnvClient(objective, model, load, exe)
        self.spec = self.client.spec
        self.eval = eval
        self.mask = None
        self.rng = None  # seeded by a reset with a seed
        self.last_seed = None

    def _seed(self, seed):
        """The seed of a reset: seed itself; without one, the next draw of
        a generator seeded by the last seeded reset (so a seeded run is
        reproducible), or a fresh one from the operating system."""
        if seed is not None:
            self.rng = random.Random(int(seed))
            return int(seed)
        if self.rng is None:
            self.rng = random.Random(random.SystemRandom().randrange(SEED_LIMIT))
        return self.rng.randrange(SEED_LIMIT)

    def _unpack(self, st, obs):
        self.mask = list(st["masks"][0])
        info = {k: v[0] for k, v in st["info"].items()}
        return list(obs), info

    def reset(self, seed=None):
        self.last_seed = self._seed(seed)
        st = self.client.reset(self.last_seed, 1, self.eval)
        return self._unpack(st, st["obs"][0])

    def step(self, action):
        st = self.client.step([list(action)])
        done = bool(st["dones"][0])
        # the protocol's final_obs: the ended episode's last observation
        obs = st["final_obs"][0] if done and "final_obs" in st else st["obs"][0]
        obs, info = self._unpack(st, obs)
        return obs, float(st["rewards"][0]), False, done, info

    def close(self):
        self.client.close()


try:
    import gymnasium as gym
    import numpy as np
except ImportError:  # the classes above still work
    gym = None

if gym is not None:

    class MeshrlEnv(gym.Env):
        """SingleEnv as a gymnasium.Env. A reset without a seed draws one
        from the env's np_random (seeded by the first reset with a seed,
        else by the operating system)."""

        metadata = {"render_modes": []}

        def __init__(self, objective, model=None, load=None, exe=None, eval=False):
            self.env = SingleEnv(objective, model, load, exe, eval)
            spec = self.env.spec
            self.action_space = gym.spaces.MultiDiscrete(spec["nchoices"])
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (spec["obs_dim"],), np.float32)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            s = seed if seed is not None else int(self.np_random.integers(SEED_LIMIT))
            obs, info = self.env.reset(seed=s)
            return np.array(obs, dtype=np.float32), info

        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            return np.array(obs, dtype=np.float32), reward, terminated, truncated, info

        def action_masks(self):
            return np.array(self.env.mask, dtype=bool)

        def close(self):
            self.env.close()


def main(argv):
    """python3 meshrl_simenv.py OBJECTIVE.obj [MODEL]: one episode of the
    first choice of every component, its rewards on stdout."""
    if len(argv) not in (2, 3):
        sys.stderr.write("usage: meshrl_simenv.py OBJECTIVE.obj [MODEL]\n")
        return 2
    env = SingleEnv(argv[1], model=argv[2] if len(argv) == 3 else None)
    try:
        obs, info = env.reset(seed=1)
        truncated, steps = False, 0
        while not truncated:
            obs, reward, terminated, truncated, info = env.step([0] * env.spec["ncomp"])
            steps += 1
            print("step %d reward %g obs %s" % (steps, reward, obs))
    finally:
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
