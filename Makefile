# sanasend-bot: every task a developer or CI runs goes through here.
GO        ?= go
BIN       := bin/sanasend-bot
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PLATFORMS := linux/amd64 linux/arm64 darwin/arm64 windows/amd64

.PHONY: all build test demo demo-check fuzz bench soak lint cross dist clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sanasend-bot

## test: the whole suite with the race detector; it runs the real Node.js stand-in. The
## command package takes about 6 of its 11 minutes on 2 cores: its tests run real bots one by one.
test:
	@command -v node >/dev/null 2>&1 || { echo "make test: node (Node.js 20) is not on PATH: install it, the tests run the real stand-in service"; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "make test: npm is not on PATH: it comes with Node.js"; exit 1; }
	$(GO) test -race -count=1 -timeout 11m ./...

## demo: the console on the bundled stand-in service (examples/whatsapp-service).
demo: build
	@command -v node >/dev/null 2>&1 || { echo "make demo: node (Node.js 20) is not on PATH"; exit 1; }
	./$(BIN) console -config examples/sanasend-bot.yaml

## demo-check: what a new user does first, scripted: `make demo`, `status`,
## `quit`; the answer must make sense and no process may be left.
demo-check: build
	./scripts/demo-check

## fuzz: 10 s on each parser that takes outside input.
FUZZTIME ?= 10s
fuzz:
	GO=$(GO) ./scripts/fuzz ./bot/ FuzzParse $(FUZZTIME)
	GO=$(GO) ./scripts/fuzz ./bot/slackbot/ FuzzVerifyRequest $(FUZZTIME)
	GO=$(GO) ./scripts/fuzz ./manager/ FuzzParseHealth $(FUZZTIME)
	GO=$(GO) ./scripts/fuzz ./whatsapp/ FuzzParseLogLine $(FUZZTIME)
	GO=$(GO) ./scripts/fuzz ./config/ FuzzParse $(FUZZTIME)
	GO=$(GO) ./scripts/fuzz ./whatsapp/ FuzzRestorationFeed $(FUZZTIME)
	GO=$(GO) ./scripts/fuzz ./whatsapp/ FuzzLastRestoration $(FUZZTIME)

## bench: logs against GNU tail on a 1 GiB file, process-table scan against ps,
## status latency, the sessions scan with 10 and 100 sessions, a restart
## against the service's own shutdown and boot done by hand (restart-ms,
## manual-ms, ratio, diff-ms), the acknowledgement of signed slash commands,
## and a year of checks every 30 s for 3 services as retention keeps them:
## `uptime 90d` (query, chart, both: goal under 50 ms; x-empty-chart is
## against drawing an empty chart), one day's rollup job (rollup-day) and
## the database's size (db-MiB: goal under 50 MiB); and `status` of a fleet
## of 50 agents from one hub, over NATS (agents in another process;
## p50-ms, p99-ms: goal p99 under 200 ms; hub-RSS-MiB) and through the
## router (the command's whole path).
bench:
	$(GO) run ./internal/benchlogs
	$(GO) test -run '^$$' -bench 'ProcessTable|Status|Tail|SessionsScan' -benchmem -benchtime 2s ./manager/
	$(GO) test -run '^$$' -bench 'RestartVsManual' -benchtime 5x ./manager/
	$(GO) test -run '^$$' -bench 'SlashCommandAck' -benchmem ./bot/slackbot/
	$(GO) test -run '^$$' -bench 'ServeStatusAck' -benchmem -benchtime 3s ./cmd/sanasend-bot/
	$(GO) test -run '^$$' -bench 'HistoryYear|Uptime90d' -benchtime 20x ./history/
	$(GO) test -run '^$$' -bench 'Render90d' -benchmem ./chart/
	$(GO) test -run '^$$' -bench 'FleetStatus50' -benchtime 500x ./fleet/hub/
	$(GO) test -run '^$$' -bench 'RouterStatus50' -benchtime 200x ./bot/

## soak: not in CI. SOAK_DURATION of slash commands, confirmed restarts,
## crashes (SIGKILL) with their alerts acknowledged, one every SOAK_INTERVAL,
## against the stand-in; prints goroutines, RSS and open fds at the start,
## every minute and at the end, and fails if they grew.
SOAK_DURATION ?= 30m
SOAK_INTERVAL ?= 2s
SOAK_TIMEOUT  ?= 2h
soak:
	@command -v node >/dev/null 2>&1 || { echo "make soak: node (Node.js 20) is not on PATH: the soak runs the real stand-in"; exit 1; }
	$(GO) test -tags soak -run '^TestSoak$$' -v -count=1 -timeout $(SOAK_TIMEOUT) ./cmd/sanasend-bot/ -soak.duration=$(SOAK_DURATION) -soak.interval=$(SOAK_INTERVAL)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

cross:
	@for p in $(PLATFORMS); do \
		echo "build $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o /dev/null ./cmd/sanasend-bot || exit 1; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) vet ./... || exit 1; \
	done

## dist: release archives in dist/ for PLATFORMS, one per platform (tar.gz,
## zip for windows), each with the binary (CGO_ENABLED=0, -trimpath, version
## and commit stamped in as by LDFLAGS), README.md and deploy/, and
## dist/SHA256SUMS; reproducible: every time in them is the commit's.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
dist:
	rm -rf dist
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./scripts/dist -go $(GO) -version '$(VERSION)' -commit '$(COMMIT)' \
		-platforms '$(PLATFORMS)' -out dist

## clean: what the build and the demo made: the binary, the demo's state
## dir, and the stand-in's logs and session profiles.
clean:
	rm -rf bin dist .demo-state examples/whatsapp-service/logs examples/whatsapp-service/.wwebjs_auth examples/whatsapp-service/.wwebjs_cache
