# testbed.mk - the local service-mesh testbed as make targets.
#
#   make testbed-up     start node1, node2 and the front node in the background
#   make testbed-down   stop them (by pid file; nothing is left running)
#   make testbed-status
#
# Ports and run directory can be set: make testbed-up TB_PORT=9080 ...
# (0 = any free port; the chosen ports are in $(TB_RUN)/env). That env file
# (mode 0600) also holds TB_SECRET, the run's control secret:
#   actuate --env $(TB_RUN)/env p1=60      trace-collect --env $(TB_RUN)/env ...
# TB_BIND=ADDR serves on another local address (the control API stays on
# 127.0.0.1).
TB_RUN          ?= $(BUILD)/run/testbed
TB_PORT         ?= 8080
TB_CONTROL_PORT ?= 8081
TB_NODE1_PORT   ?= 8091
TB_NODE2_PORT   ?= 8092
TB_BIND         ?= 127.0.0.1
TB_ARGS         ?=

# The testbed an objective's trace was collected on (make trace OBJ=x)
# and its live runs use (make experiment OBJ=x LIVE=1, make validate):
# node 2's units where the objective fixes them, and the front's timeout.
# 2 s, four times the tightest bound: an overloaded node's waits end
# there, so trace-collect --steady reaches its steady state within ~10 s
# (at 5 s it took 15-30 s, past any budget). TB_ARGS comes after these.
TB_OBJ_delay           := --units2 1 --timeout 2
TB_OBJ_throughput      := --timeout 2
TB_OBJ_cost            := --timeout 2
TB_OBJ_differentiation := --units2 1 --timeout 2
# online adaptation (make adapt): a lighter compute service (6 ms) with
# node 2 at 2 units, the front's timeout eight times the 0.12 s bound
TB_OBJ_adapt-one       := --units2 2 --compute-cpu-ms 6 --timeout 1
TB_OBJ_adapt-load      := $(TB_OBJ_adapt-one)
TB_OBJ_adapt-two       := --timeout 2

.PHONY: testbed-up testbed-down testbed-status
testbed-up: $(BUILD)/bin/testbed
	@mkdir -p -m 700 $(TB_RUN)
	$(BUILD)/bin/testbed up --run-dir $(TB_RUN) --bind $(TB_BIND) --port $(TB_PORT) \
		--control-port $(TB_CONTROL_PORT) --node1-port $(TB_NODE1_PORT) \
		--node2-port $(TB_NODE2_PORT) $(TB_ARGS)

testbed-down: $(BUILD)/bin/testbed
	@mkdir -p $(TB_RUN)
	$(BUILD)/bin/testbed down --run-dir $(TB_RUN)

testbed-status: $(BUILD)/bin/testbed
	@mkdir -p $(TB_RUN)
	$(BUILD)/bin/testbed status --run-dir $(TB_RUN)
