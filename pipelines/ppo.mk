# ppo.mk - build flags for ppo-train's numeric code.
# The matrix kernels and the tanh in tools/policy (and the trainer in
# tools/ppo-train, which uses them) rely on fused
# multiply-add; ISO C mode (-std=c11) turns contraction off by default.
# -fno-math-errno lets sqrtf in the optimiser loop vectorise. -Wno-psabi:
# without -march (the ASan build) GCC warns that 32-byte vectors passed
# between static functions would change ABI; they never cross a library
# boundary.
$(BUILD)/obj/tools/ppo-train/%.o $(BUILD)/obj/tools/policy/%.o: CFLAGS += -ffp-contract=fast -fno-math-errno -Wno-psabi
