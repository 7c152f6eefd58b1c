# syntax=docker/dockerfile:1
#
# ONE image for every hub process; each container picks its command:
#   hub migrate | hub api <service> | hub worker <service> | hub relay <service> | hub gateway
#   | hub ledger run (the ledger connector)
#   | hub connectors run --platform taobao|jd (the shop connectors)
#   | python -m simulators.kingdee / simulators.ufida (ledger simulators, development only)
#   | python -m simulators.taobao / simulators.jd (shop simulators, development only)
#
# Every dependency ships wheels for this base (psycopg2-binary included), so no
# compiler is installed; add build-essential here if one ever needs building.

FROM python:3.11-slim

# HOME=/tmp: the root filesystem is read-only under compose and Kubernetes and
# /tmp is the one writable place, so anything that writes under ~ still works.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    HUB_METRICS_PORT=9100

# tini as PID 1: forwards SIGTERM to the hub process (which stops gracefully on
# it) and reaps zombies. postgresql-client: pg_dump and pg_restore for `hub backup`
# and `hub restore` (Debian bookworm's 15, as the compose file's postgres:15). Printed documents
# (hubkit.pdf): WeasyPrint's Pango and HarfBuzz subsetter, and a font with Chinese glyphs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini postgresql-client libpango-1.0-0 libpangoft2-1.0-0 \
        libharfbuzz-subset0 fonts-wqy-zenhei \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hub \
 && useradd --system --uid 10001 --gid hub --home-dir /tmp --no-create-home \
            --shell /usr/sbin/nologin hub

WORKDIR /app
COPY . .

# 1. The project and its pinned dependencies (grpcio-tools among them).
# 2. Generate the gRPC/protobuf code into protos/hubapi/ (never committed);
#    it also creates the hubapi packages' __init__.py files.
# 3. Reinstall the project alone, so the installed hubapi package contains
#    what step 2 generated (step 1 saw only the .proto files).
# 4. Precompile /app too: `python -m ...` (the worker, the health check) puts
#    the working directory first on sys.path and imports from here, and the
#    read-only filesystem would otherwise force a recompile at every start.
# The code stays owned by root: the hub user can read it but never change it.
RUN pip install . \
 && python scripts/gen_protos.py \
 && pip install --no-deps --force-reinstall . \
 && rm -rf build ./*.egg-info \
 && python -m compileall -q /app

# Numeric user so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001

# gateway HTTP, metrics, gRPC of order..accounting, gRPC of the ledger connector
# and of the shop connectors (taobao 50061, jd 50062) (documentation only; the
# simulators' 8701/8702/8704/8711 are left out: development only)
EXPOSE 8000 9100 50051-50055 50060-50062

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["hub", "--help"]
