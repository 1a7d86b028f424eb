"""ppo_sb3.py STEPS SEED - stable-baselines3 PPO's timesteps/s on a free
environment, the reference of bench_ppo.sh's free-environment figure when
stable_baselines3 is importable (then the figure's reference_kind is
"measured"; otherwise the recorded figure of tests/bench/RECORDED.md).

The setting is the one recorded: the published delay hyper-parameters
([64]x4 tanh, n_steps 1024, 1 environment, batch 64, 10 epochs, lr 1e-4,
gamma 0, MultiDiscrete actions), torch on 1 thread, CPU. The environment
mirrors ppo-train's --env bandit in shape and cost (4 contexts one-hot,
2 components of 5 choices, episodes of 16 steps, rewards a fixed function
of context and arms); plain PPO has no action masks, so nothing is masked.
Prints one number: timesteps per second of model.learn (the training loop;
model construction excluded, as ppo-train's figure excludes start-up).
"""
import sys
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

NCTX, NCOMP, NCHOICES, EPISODE = 4, 2, 5, 16


class FreeBandit(gym.Env):
    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (NCTX,), np.float32)
        self.action_space = gym.spaces.MultiDiscrete([NCHOICES] * NCOMP)
        self.t = 0
        self.x = 0

    def _obs(self):
        self.x = int(self.np_random.integers(NCTX))
        o = np.zeros(NCTX, np.float32)
        o[self.x] = 1.0
        return o

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        r = 0.0
        for c, a in enumerate(action):
            best = (self.x * 3 + c * 5 + 1) % NCHOICES
            r += 1.0 if a == best else 0.1 * ((a + self.x + c) % 4)
        self.t += 1
        return self._obs(), r / NCOMP, False, self.t >= EPISODE, {}


def main():
    steps, seed = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    model = PPO("MlpPolicy", FreeBandit(), n_steps=1024, batch_size=64,
                n_epochs=10, learning_rate=1e-4, gamma=0.0, seed=seed,
                device="cpu", verbose=0,
                policy_kwargs=dict(net_arch=[64] * 4,
                                   activation_fn=torch.nn.Tanh))
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    print("%.0f" % (model.num_timesteps / (time.perf_counter() - t0)))


if __name__ == "__main__":
    main()
