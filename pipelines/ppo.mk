# ppo.mk - build flags for ppo-train's numeric code.
# The matrix kernels and the tanh in tools/ppo-train rely on fused
# multiply-add; ISO C mode (-std=c11) turns contraction off by default.
# -fno-math-errno lets sqrtf in the optimiser loop vectorise.
$(BUILD)/obj/tools/ppo-train/%.o: CFLAGS += -ffp-contract=fast -fno-math-errno
