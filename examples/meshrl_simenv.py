"""meshrl_simenv.py - drive `sim-env serve` from Python.

SimEnvClient speaks the raw sim-env protocol (length-delimited msgpack over
the child's stdin/stdout) and needs only the msgpack package. MeshrlEnv wraps
one environment as a gymnasium.Env (MultiDiscrete actions, action_masks()
for sb3-contrib's MaskablePPO); it exists only when gymnasium is installed.

    env = MeshrlEnv("pipelines/objectives/delay.obj", model="models/delay/system.msgpack")
    obs, info = env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
"""
import struct
import subprocess

import msgpack


class SimEnvError(RuntimeError):
    pass


class SimEnvClient:
    """N environments behind one `sim-env serve` process."""

    def __init__(self, objective, model=None, load=None, exe="sim-env"):
        argv = [exe, "serve", objective]
        if model:
            argv += ["--model", model]
        if load:
            argv += ["--load", load]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.spec = self.request({"cmd": "spec"})["spec"]

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

    def reset(self, seed, n=1, eval=False):
        return self.request({"cmd": "reset", "seed": seed, "n": n, "eval": eval})["state"]

    def step(self, actions):
        """actions: one list of choice indices per environment."""
        return self.request({"cmd": "step", "actions": [[int(a) for a in row] for row in actions]})["state"]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.request({"cmd": "close"})
            except (SimEnvError, BrokenPipeError):
                pass
            self.proc.stdin.close()
            self.proc.wait()


try:
    import gymnasium as gym
    import numpy as np
except ImportError:  # the raw client above still works
    gym = None

if gym is not None:

    class MeshrlEnv(gym.Env):
        """One sim-env environment as a gymnasium.Env. Episodes end with
        truncated=True at the objective's episode length."""

        metadata = {"render_modes": []}

        def __init__(self, objective, model=None, load=None, exe="sim-env", eval=False):
            self.client = SimEnvClient(objective, model, load, exe)
            spec = self.client.spec
            self.action_space = gym.spaces.MultiDiscrete(spec["nchoices"])
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (spec["obs_dim"],), np.float32)
            self._eval = eval
            self._mask = None

        def _unpack(self, st):
            self._mask = np.array(st["masks"][0], dtype=bool)
            info = {k: (v[0]) for k, v in st["info"].items()}
            return np.array(st["obs"][0], dtype=np.float32), info

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            st = self.client.reset(0 if seed is None else int(seed), 1, self._eval)
            return self._unpack(st)

        def step(self, action):
            st = self.client.step([list(action)])
            obs, info = self._unpack(st)
            return obs, float(st["rewards"][0]), False, bool(st["dones"][0]), info

        def action_masks(self):
            return self._mask

        def close(self):
            self.client.close()
