# make test   vet, staticcheck and the whole test suite with -race, against real
#             servers (dynalite, versitygw, s3rver) installed into .cache/ and
#             started on loopback by internal/withservers, then stopped.
#             The browser tests use Debian's chromium (make browser installs it).
# make check  the same static checks without the servers, and the exported API
#             against its checked-in snapshot (make api rewrites it).
#
# The tests run twice: on the Go that runs make (with -race), then on the
# oldest supported Go (GO_OLDEST, fetched by the go command as a toolchain).

GO          ?= go
CACHE       := $(CURDIR)/.cache
STATICCHECK := $(CACHE)/staticcheck@v0.8.2/staticcheck
TESTFLAGS   ?= -race -count=1 -timeout 20m
# The oldest Go release the module supports (go.mod's go line): the two latest
# releases are supported, as the libraries we learn from do.
GO_OLDEST   ?= go1.25.5

.PHONY: test check vet staticcheck fmt-check browser

test: check browser
	$(GO) run ./internal/withservers -cache $(CACHE) -- sh -c '\
		$(GO) test $(TESTFLAGS) ./... && \
		echo "== the tests again on $(GO_OLDEST) ==" && \
		GOTOOLCHAIN=$(GO_OLDEST) $(GO) test -count=1 -timeout 20m ./...'
	$(MAKE) --no-print-directory fuzz FUZZTIME=10000x

# make browser installs Debian's chromium for the browser tests (api's
#             console, driven with chromedp) when it is missing, and fails
#             loudly when it cannot.
CHROMIUM ?= /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "browser: installing Debian's chromium (apt-get install chromium)"; \
		$(SUDO) apt-get install -y --no-install-recommends chromium >/tmp/worksetstate-apt.log 2>&1 || \
		{ $(SUDO) apt-get update >>/tmp/worksetstate-apt.log 2>&1 && $(SUDO) apt-get install -y --no-install-recommends chromium >>/tmp/worksetstate-apt.log 2>&1; } || \
		{ tail -20 /tmp/worksetstate-apt.log; echo "browser: cannot install chromium; the browser tests need it (see /tmp/worksetstate-apt.log)"; exit 1; }; \
	fi
	@$(CHROMIUM) --version 2>/dev/null

# make fuzz   runs every fuzz target for FUZZTIME. make test runs each for 10000
#             executions: a count, not a duration, because a duration races the
#             fuzz coordinator's own deadline on Go < 1.27 and fails with a bare
#             "context deadline exceeded" (go.dev/issue/75804) on a busy machine.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./workset:FuzzParseStateAndPriority ./workset:FuzzParseTime ./workset:FuzzValidateID \
	./workset/dynamostore:FuzzDecodeItem ./sentinel:FuzzParseBody ./sentinel:FuzzListingKeys
.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

check: fmt-check vet staticcheck apicheck

# make api    rewrites internal/apisnapshot/api.txt after an intended API change.
.PHONY: api apicheck
api:
	$(GO) run ./internal/apisnapshot -write
apicheck:
	$(GO) run ./internal/apisnapshot -check

fmt-check:
	@out=$$(find . -name '*.go' -not -path './.cache/*' | xargs gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(dir $(STATICCHECK)) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

# make bench  the side-by-side migration benchmark (see BENCHMARKS.md) and the
#             Go benchmarks of the hot paths. BENCHFLAGS go to the harness.
BENCHFLAGS ?=
.PHONY: bench
bench:
	$(GO) run ./internal/migratebench -cache $(CACHE) $(BENCHFLAGS)
	$(GO) run ./internal/withservers -cache $(CACHE) -- $(GO) test -run '^$$' -bench . -benchmem ./...
