# Two images from one base, one build target each:
#   docker build --target service -t keras-policy-server .   policy-serve; no TensorFlow (the default target)
#   docker build --target trainer -t keras-policy-trainer .  policy-train; Keras on TensorFlow
# On machines without a registry, pass --build-arg BASE_IMAGE=<a local python 3.11 image>.
# With podman, build with `--format docker`: the OCI format has no HEALTHCHECK.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# What both roles share: the user, the artifact root (and /runs, for the trainer's
# TensorBoard logs), the environment.
FROM ${BASE_IMAGE} AS base
RUN groupadd --gid 10001 policy && useradd --uid 10001 --gid policy --no-create-home --shell /usr/sbin/nologin policy \
    && mkdir -p /artifacts /runs && chown policy:policy /artifacts /runs
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    POLICY_ARTIFACT_ROOT=/artifacts
WORKDIR /tmp
VOLUME ["/artifacts"]

# What both roles' builders share: an empty venv, the wheels, and pyproject.toml, which says
# what each role needs (its extra: `serve` or `train`), with the client's (client/pyproject.toml)
# in place of the client distribution it depends on, installed from client/ below.
FROM base AS builder
# PIP_NO_INDEX=1 with a wheelhouse/ in the build context builds with no network at all.
ARG PIP_NO_INDEX=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INDEX=${PIP_NO_INDEX} \
    PIP_FIND_LINKS=/wheelhouse
RUN python3 -m venv /opt/venv
COPY wheelhouse/ /wheelhouse/
# Dependencies first, from pyproject.toml alone, so editing the source keeps that layer.
# Each role's venv ends without pip and setuptools: nothing installs at run time.
COPY pyproject.toml /src/pyproject.toml
COPY client/pyproject.toml /src/client/pyproject.toml
COPY scripts/requirements.py /src/scripts/requirements.py

FROM builder AS service-builder
RUN python3 /src/scripts/requirements.py serve > /tmp/requirements.txt \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY README.md /src/README.md
COPY client /src/client
COPY policy_artifacts /src/policy_artifacts
COPY service /src/service
RUN /opt/venv/bin/pip install --no-deps /src/client /src && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

FROM builder AS trainer-builder
RUN python3 /src/scripts/requirements.py train > /tmp/requirements.txt \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY README.md /src/README.md
COPY client /src/client
COPY policy_artifacts /src/policy_artifacts
COPY trainer /src/trainer
RUN /opt/venv/bin/pip install --no-deps /src/client /src && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

# A job, not a server: no port and no health check. Arguments go to policy-train.
FROM base AS trainer
COPY --from=trainer-builder /opt/venv /opt/venv
ENV TF_CPP_MIN_LOG_LEVEL=2
USER 10001:10001
ENTRYPOINT ["policy-train"]
CMD ["--help"]

# Last, so a plain `docker build .` builds the service.
FROM base AS service
COPY --from=service-builder /opt/venv /opt/venv
ENV POLICY_HOST=0.0.0.0 \
    POLICY_PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"POLICY_PORT\", \"8000\")}/healthz', timeout=2)"]
CMD ["policy-serve"]
