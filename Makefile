# rktlet: `make run` builds and starts rktlet, `make test` builds and runs
# every test. Both do all set-up on a fresh Debian machine (run as root).

GO      ?= go
OUT     := _output
VERSION ?= 0.1.0-g$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/rktlet/rktlet/rktlet.Version=$(VERSION)
TESTBED := hack/testbed/testbed.sh

.PHONY: all build install install-files rkt cri-tools kubelet run test test-cgroup2 test-unit cover test-kubelet test-busy smoke e2e critest critest-seeds \
	fuzz crash lint testbed-up testbed-down testbed-status clean

all: build

## build: the rktlet binary in _output/bin
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(OUT)/bin/rktlet ./cmd/rktlet

# Where `make install` puts things (DESTDIR is prepended to each).
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
LIBDIR         ?= $(PREFIX)/lib
SYSCONFDIR     ?= /etc
SYSTEMDUNITDIR ?= /etc/systemd/system
STAGE1_DIR     := $(LIBDIR)/rkt/stage1-images

## install: rktlet, rkt, stage1-host.aci, the systemd unit and (unless one is there) the config
install: build rkt
	$(MAKE) --no-print-directory install-files

# install-files copies what install built; the e2e tests call it alone while
# the bed's rktlet runs from $(OUT)/bin.
install-files:
	install -D -m 0755 $(OUT)/bin/rktlet $(DESTDIR)$(BINDIR)/rktlet
	install -D -m 0755 $(OUT)/rkt/bin/rkt $(DESTDIR)$(BINDIR)/rkt
	install -D -m 0644 $(OUT)/rkt/bin/stage1-host.aci $(DESTDIR)$(STAGE1_DIR)/stage1-host.aci
	mkdir -p $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' contrib/systemd/rktlet.service.in \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/rktlet.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/rktlet.service
	@mkdir -p $(DESTDIR)$(SYSCONFDIR)/rktlet
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/rktlet/rktlet.toml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/rktlet/rktlet.toml"; \
	else \
		$(OUT)/bin/rktlet config default | sed \
			-e 's|^rkt-path = .*|rkt-path = "$(BINDIR)/rkt"|' \
			-e 's|^stage1-path = .*|stage1-path = "$(STAGE1_DIR)/stage1-host.aci"|' \
			>$(DESTDIR)$(SYSCONFDIR)/rktlet/rktlet.toml; \
		echo "wrote $(DESTDIR)$(SYSCONFDIR)/rktlet/rktlet.toml"; \
	fi

## rkt: rkt v1.30.0 and stage1-host.aci in _output/rkt/bin (cached)
rkt:
	bash hack/build-rkt.sh

## cri-tools: crictl, critest and ginkgo pinned to cri-tools v1.37.0 (cached)
cri-tools:
	bash hack/build-cri-tools.sh

## kubelet: the kubelet v1.37.2 the kubelet suite runs, in _output/kubelet (cached)
kubelet:
	bash hack/build-kubelet.sh

testbed-up: build
	bash $(TESTBED) up

testbed-down:
	bash $(TESTBED) down

testbed-status:
	bash $(TESTBED) status

## run: bring up the test bed and start rktlet in it, then say how to reach it
run: testbed-up
	bash $(TESTBED) start-rktlet
	@bash hack/print-run-help.sh

## test: everything, on a fresh test bed that is removed afterwards
test:
	bash hack/test.sh

## test-cgroup2: container resources on a pure cgroup v2 systemd host, a Debian 12 VM (hack/test-cgroup2.sh)
test-cgroup2:
	bash hack/test-cgroup2.sh

## test-unit: Go unit tests, with the race detector
test-unit:
	$(GO) test -race ./...

## cover: unit-test coverage of the CRI services and the internal packages
## together (each package's statements, counted by every package's tests)
cover:
	$(GO) test -coverpkg=./rktlet/...,./internal/... -coverprofile=$(OUT)/cover.out ./rktlet/... ./internal/... >/dev/null
	$(GO) tool cover -func=$(OUT)/cover.out | tail -1

## smoke: the stack itself (systemd + rkt + stage1-host), inside the bed
smoke: testbed-up
	bash $(TESTBED) exec -- bash test/smoke.sh

## e2e: rktlet through crictl inside the bed
e2e: testbed-up
	bash $(TESTBED) start-rktlet
	bash hack/test-e2e.sh

## test-kubelet: a real kubelet (standalone, static pods) against the bed's rktlet
test-kubelet: testbed-up
	bash $(TESTBED) start-rktlet
	bash hack/test-kubelet.sh

## critest: the CRI validation suite with test/critest/{focus,skip}.txt
critest: testbed-up
	bash $(TESTBED) start-rktlet
	bash $(TESTBED) exec -- bash test/critest.sh

## test-busy: make test with both cores kept busy (two `yes`) for the whole run
test-busy:
	bash hack/test-busy.sh

## critest-seeds: the whole critest once per seed, each in another random order
SEEDS ?= 1001 2002 3003
critest-seeds: testbed-up
	bash $(TESTBED) start-rktlet
	@for seed in $(SEEDS); do \
		echo "=== critest, seed $$seed"; \
		bash $(TESTBED) exec -- env CRITEST_SEED=$$seed CRITEST_REPORT_DIR=$(CURDIR)/$(OUT)/critest-seed-$$seed \
			bash test/critest.sh >$(OUT)/critest-seed-$$seed.out 2>&1; rc=$$?; \
		tail -n 1 $(OUT)/critest-seed-$$seed.out; [ $$rc -eq 0 ] || exit 1; \
	done

## fuzz: malformed and hostile requests to the bed's rktlet (FUZZ_REQUESTS, FUZZ_SEED)
FUZZ_REQUESTS ?= 10000
FUZZ_SEED ?= $(shell date +%s)
fuzz: testbed-up
	bash $(TESTBED) start-rktlet
	bash hack/test-fuzz.sh -requests $(FUZZ_REQUESTS) -seed $(FUZZ_SEED)

## crash: the crash loop, rktlet SIGKILLed and restarted CRASH_ROUNDS times under a workload
CRASH_ROUNDS ?= 50
crash: testbed-up
	bash $(TESTBED) start-rktlet
	CRASH_ROUNDS=$(CRASH_ROUNDS) bash hack/test-e2e.sh -test.run '^TestCrashLoop$$' -test.timeout 60m

## lint: gofmt and go vet (e2e build tag included)
lint:
	@unformatted=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go' | grep -v '^vendor/')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...
	$(GO) vet -tags cgroup2 ./test/cgroup2/
	@# The layering rule of DEVELOPERS.md: nothing below internal/ (nor cli,
	@# systemd, journal, image, network, streaming) imports the CRI service.
	@up=$$($(GO) list -f '{{.ImportPath}}: {{join .Deps " "}}' ./internal/... ./cli/... ./systemd/... ./journal/... ./image/... ./network/... ./streaming/... \
		| grep -E ' github.com/rktlet/rktlet/rktlet( |$$)' || true); \
	if [ -n "$$up" ]; then echo "imports rktlet/ from below: $$up"; exit 1; fi

clean:
	-bash $(TESTBED) down
	rm -rf $(OUT)
