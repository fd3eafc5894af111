# syntax=docker/dockerfile:1
# The ScaiVault Federation image: one entry point for both containers of the
# pod (`scaivault-federation run` and `scaivault-federation api`).
#
#   docker build -t ghcr.io/scaivault/scaivault-federation:0.1.0 .
#
# The builder installs the exact versions of requirements.lock (regenerate it
# with hack/lock-requirements.sh when pyproject.toml changes) and then the
# package itself without resolving anything; the final stage holds only the
# virtualenv on a slim Python and runs as a fixed non-root user.
#
# hack/image-spec lists what goes into this image (user, entry point, command,
# environment, ports, labels, Python, the setuptools pin); hack/build-image.sh
# builds the same image from that list without Docker, and tests/image checks
# that this file says the same things. Change them together.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock \
    && pip install setuptools==84.2.1
COPY pyproject.toml ./
COPY operator/ operator/
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && pip uninstall --yes setuptools pip \
    && python -m compileall -q /opt/venv/lib \
    && scaivault-federation --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="scaivault-federation" \
      org.opencontainers.image.description="Kubernetes operator federating secrets from Vault, AWS, Azure and Google into Kubernetes Secrets, with the ScaiVault federation HTTP API" \
      org.opencontainers.image.source="https://github.com/scaivault/scaivault-federation"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
# A numeric user (the "nonroot" user of distroless images), so Kubernetes can
# verify runAsNonRoot without a passwd entry; the root filesystem may be
# read-only: the only writable path the processes need is /tmp.
USER 65532:65532
WORKDIR /tmp
# 8000: HTTP API; 8080: operator liveness; 9090: operator metrics.
EXPOSE 8000 8080 9090
ENTRYPOINT ["scaivault-federation"]
CMD ["run"]
