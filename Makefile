# The two commands of the README:
#   make run   install what is missing, build, and serve the credit_risk example
#   make test  install what is missing, build, and run every test
BUILD ?= build
JOBS ?= $(shell nproc)
CONFIG ?= examples/credit_risk/hitl.lua
LISTEN ?= 127.0.0.1:8080

.PHONY: deps build run test clean

deps:
	@scripts/dev/install-deps.sh $(if $(filter test,$(MAKECMDGOALS)),test,build)

build: deps
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/dev/run-example.sh $(BUILD) $(CONFIG) $(LISTEN)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)
