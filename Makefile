# The documented commands. `make dev` runs the product locally; `make test` runs every test.
SHELL := /bin/bash
export CARGO_INCREMENTAL ?= 0
export CARGO_TERM_COLOR ?= never

.PHONY: dev hsm-evaluate conversions-flush demo-conversions bench-conversions test fuzz-contract lint fmt unit spend-sync bench bench-cold-start bench-dashboard bench-spend-sync bench-hsm-fairness validate package deploy clean-local

## Run the product locally: moto + sandbox Meta/YCloud + every function on http://127.0.0.1:8080
dev:
	@scripts/dev.sh

## Run the HSM trigger evaluator once against the running `make dev` (what the 5-minute schedule does)
hsm-evaluate:
	@curl -s -X POST http://127.0.0.1:$${LOCAL_API_PORT:-8080}/__local/hsm-evaluate; echo

# Deploy tools live in their own venv (scripts/bootstrap.sh); SAM CLI telemetry stays off.
SAM := SAM_CLI_TELEMETRY=0 PATH="$(CURDIR)/.venv-deploy/bin:$$PATH" sam

## Every test: fmt, clippy -D warnings, unit + integration tests (moto started by the harness),
## `sam validate --lint` (cfn-lint with SAM's view of the template), the contract fuzzer
## (schemathesis against the local stack on free ports)
test:
	@scripts/bootstrap.sh test
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	@mkdir -p target
	set -o pipefail; cargo test --workspace --locked 2>&1 | tee target/test-output.log
	$(SAM) validate --lint -t infra/template.yaml
	scripts/fuzz-contract.sh
	python3 scripts/check-doc-links.py
	@scripts/test-summary.sh target/test-output.log

## The contract fuzzer alone: every route of GET /openapi.json, schemathesis against the local stack
fuzz-contract:
	@scripts/fuzz-contract.sh

## The template alone: sam validate --lint
validate:
	@scripts/bootstrap.sh test
	$(SAM) validate --lint -t infra/template.yaml

fmt:
	cargo fmt --all

## Run the Meta spend sync by hand against `make dev` (moto fires no schedules): fan-out + every tenant
spend-sync:
	@curl -sS -X POST "http://127.0.0.1:$${LOCAL_API_PORT:-8080}/__local/spend-sync"; echo

## Send pending conversions to Meta by hand against `make dev` (what the 5-minute schedule does)
conversions-flush:
	@curl -sS -X POST "http://127.0.0.1:$${LOCAL_API_PORT:-8080}/__local/conversions-flush"; echo

## The Conversions API demo against `make dev`: connect, enable, a sale of a demo Meta lead -> Sandbox Meta
demo-conversions:
	@python3 scripts/demo-conversions.py

## Benchmarks (release builds; not part of CI): cold start of every function, dashboard read cost
bench: bench-cold-start bench-dashboard

bench-cold-start:
	@scripts/bench-cold-start.sh

## Dashboard: items read + warm latency of /stats at 1k and 100k leads vs a naive per-lead read (moto)
bench-dashboard:
	@scripts/bench-dashboard.sh

bench-spend-sync:
	@scripts/bench-spend-sync.sh

## Conversions API: 10,000 CRM events of 2,500 Meta leads -> requests, events per request, time, duplicates
## (debug build: serial moto, not our code, sets the pace)
bench-conversions:
	cargo test -p integration-tests --test integration -- --ignored conversions_bench --nocapture

## HSM fairness: one tenant's 10,000-item backlog vs another tenant's due item (runs until served)
bench-hsm-fairness:
	cargo test -p integration-tests --release --test integration -- --ignored hsm_fairness_bench --nocapture

## Every function's Lambda package (arm64 release, zip holding only `bootstrap`), then their
## listing with sizes; FUNCTIONS="a b" packages only those. One cargo run per function, so each is
## built with its own features, as sam build does.
FUNCTIONS ?= $(notdir $(wildcard functions/*))
package:
	@scripts/bootstrap.sh deploy
	@for f in $(FUNCTIONS); do \
	  echo "package: $$f" >&2; \
	  PATH="$(CURDIR)/.venv-deploy/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip -p "$$f" || exit 1; \
	done
	@scripts/list-packages.sh $(FUNCTIONS)

## Deploy a stage of infra/samconfig.toml: sam validate --lint -> sam build -> sam deploy
STAGE ?=
deploy:
	@scripts/deploy.sh "$(STAGE)"
