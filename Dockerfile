# syntax=docker/dockerfile:1
#
# ONE image for every hub process; each container picks its command:
#   hub migrate | hub api <service> | hub worker <service> | hub relay <service> | hub gateway
#
# Two stages: compilers and headers (only needed when a dependency has no wheel,
# e.g. psycopg2 built from source) stay in the build stage and never reach the
# runtime image. The venv lives at the same path in both stages so its scripts'
# shebangs stay valid.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build stage
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpq-dev \
 && rm -rf /var/lib/apt/lists/* \
 && python -m venv /opt/venv

WORKDIR /app
COPY . .

# 1. The distribution and its dependencies. grpcio-tools is named as well
#    because scripts/gen_protos.py needs it; resolving it together with the
#    project keeps grpcio, grpcio-tools and protobuf at compatible versions
#    (generated stubs refuse to load under an older grpcio than generated them).
# 2. Generate the gRPC/protobuf code into protos/hubapi/ (never committed).
# 3. Reinstall the project itself (no dependencies) so that the installed
#    hubapi package contains the modules that step 2 generated.
RUN pip install . grpcio-tools \
 && python scripts/gen_protos.py \
 && pip install --no-deps --force-reinstall . \
 && rm -rf build ./*.egg-info

# -------------------------------------------------------------- runtime stage
FROM ${PYTHON_IMAGE} AS runtime

# HOME=/tmp: the root filesystem is read-only in compose and Kubernetes and
# /tmp is the one writable place, so anything writing under ~ still works.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    HUB_METRICS_PORT=9100

# libpq5: runtime library for psycopg2 if it was built from source (harmless
# with psycopg2-binary). tini: PID 1 that forwards SIGTERM to the hub process
# and reaps zombies, so graceful shutdown works without code in the app for it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hub \
 && useradd --system --uid 10001 --gid hub --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin hub

# Code stays owned by root: the hub user can read it but never change it.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app

# Numeric user so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001

# gateway, metrics, gRPC of order..accounting (documentation only)
EXPOSE 8000 9100 50051-50055

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["hub", "--help"]
