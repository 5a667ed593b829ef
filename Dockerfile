# One image, two roles: `lake-serve` (default) and `lake-train`.
# On machines without a registry, pass --build-arg BASE_IMAGE=<a local python 3.11 image>.
# With podman, build with `--format docker`: the OCI format has no HEALTHCHECK.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# PIP_NO_INDEX=1 with a wheelhouse/ in the build context builds with no network at all.
ARG PIP_NO_INDEX=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INDEX=${PIP_NO_INDEX} \
    PIP_FIND_LINKS=/wheelhouse
RUN python3 -m venv /opt/venv
COPY wheelhouse/ /wheelhouse/
# Dependencies first, from pyproject.toml alone, so editing the source keeps this layer.
COPY pyproject.toml /src/pyproject.toml
RUN /opt/venv/bin/python -c "import tomllib; d = tomllib.load(open('/src/pyproject.toml', 'rb')); print('\n'.join(d['project']['dependencies'] + d['project']['optional-dependencies']['server']))" > /tmp/requirements.txt \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY README.md /src/README.md
COPY policy_artifacts /src/policy_artifacts
COPY trainer /src/trainer
COPY service /src/service
RUN /opt/venv/bin/pip install --no-deps /src

FROM ${BASE_IMAGE} AS runtime
RUN groupadd --gid 10001 lake && useradd --uid 10001 --gid lake --no-create-home --shell /usr/sbin/nologin lake \
    && mkdir -p /artifacts && chown lake:lake /artifacts
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TF_CPP_MIN_LOG_LEVEL=2 \
    LAKE_ARTIFACT_ROOT=/artifacts \
    LAKE_HOST=0.0.0.0 \
    LAKE_PORT=8000
USER 10001:10001
WORKDIR /tmp
VOLUME ["/artifacts"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"LAKE_PORT\", \"8000\")}/healthz', timeout=2)"]
CMD ["lake-serve"]
