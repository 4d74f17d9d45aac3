# syntax=docker/dockerfile:1
# The kubetune operator image: `kubetune operator` as a non-root user on a read-only root filesystem.
#
#   docker build -t kubetune/operator:0.1.0 .
#
# The base is pinned to an exact Python patch release on Debian bookworm; CI may pin it further by
# digest with --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/kubetune
WORKDIR /src
# Only what `pip install .` reads: the package metadata and the package itself (benchmarks/ and
# tests/ stay in the source tree: the image is the operator).
COPY pyproject.toml README.md ./
COPY operator/ operator/
# Extras to install: tfevent by default, since this image is also the sidecar that follows a trial's
# TensorFlow event files (metricsCollector format: tfevent); bayesian's default backend, skopt, is a
# plain dependency. EXTRAS=tfevent,gp adds torch for `backend: optuna-gp`, about 860 MB installed; give pip PyTorch's CPU-only
# wheel index then (--build-arg PIP_EXTRA_INDEX_URL=...), or it takes the CUDA build.
ARG EXTRAS="tfevent"
ARG PIP_EXTRA_INDEX_URL=""
# pip compiles the bytecode at install time, as root, since the running user cannot write it.
RUN /opt/kubetune/bin/pip install ".${EXTRAS:+[$EXTRAS]}" \
    && /opt/kubetune/bin/kubetune --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="kubetune operator" \
      org.opencontainers.image.description="Kubernetes-native hyperparameter optimization operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/kubetune /opt/kubetune
# HOME and TMPDIR point at /tmp, where the Deployment mounts an emptyDir: nothing writes to the
# read-only root filesystem. Bytecode is compiled at build time and never written at run time.
ENV PATH=/opt/kubetune/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532 is the conventional "nonroot" uid/gid of distroless images; no passwd entry is needed.
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080 9090
ENTRYPOINT ["kubetune"]
CMD ["operator", "--all-namespaces"]
