# The bd operator image: `bd operator run` on kopf + the official kubernetes client.
# Build:  docker build -t registry.example.com/bd-operator:0.1 .
# Deploy: bd operator manifests --image registry.example.com/bd-operator:0.1 | kubectl apply -f -
# (Not built in this repository's CI: the build machine has no container engine.)

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The plain install: bd's dependencies are all in its base requirements (no extras).
RUN python -m venv /opt/bd \
 && /opt/bd/bin/pip install --upgrade pip \
 && /opt/bd/bin/pip install . \
 && /opt/bd/bin/python -m compileall -q /opt/bd/lib

FROM python:3.11-slim-bookworm
# 65532: the conventional "nonroot" uid; the Deployment sets runAsNonRoot and a read-only root.
RUN useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin bd
COPY --from=build /opt/bd /opt/bd
ENV PATH=/opt/bd/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532
EXPOSE 8080
# The liveness endpoint is served by kopf (`--liveness`); the Deployment probes /healthz.
ENTRYPOINT ["bd"]
CMD ["operator", "run", "--all-namespaces", "--liveness", "http://0.0.0.0:8080/healthz"]
