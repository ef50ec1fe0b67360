# syntax=docker/dockerfile:1
# One image, three roles, chosen by the command (the container apps set it):
#   webserver    dagster-webserver -h 0.0.0.0 -p 3000 -w /opt/dagster/home/workspace.yaml  (default)
#   daemon       dagster-daemon run -w /opt/dagster/home/workspace.yaml
#   code server  dagster code-server start -h 0.0.0.0 -p 4000 -m xledger_assets.definitions
#                  --location-name xledger_assets
# No secret is baked in or passed at build time: every secret arrives at run time as an
# environment variable (Key Vault references in the container apps).
# Both stages use the same base image (the virtualenv is copied between them).

# ---- build: the wheel and a virtualenv with its runtime dependencies ----------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY xledger_assets ./xledger_assets
COPY deploy/install.sh /usr/local/bin/xledger-install
RUN xledger-install /src /opt/dagster/venv

# ---- runtime: the virtualenv, the production instance files, a non-root user ------------------
FROM python:3.11-slim-bookworm AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# tini: PID 1 that forwards signals and reaps the run worker processes the code server starts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --no-create-home \
        --shell /usr/sbin/nologin dagster \
    && install -d -o dagster -g dagster /opt/dagster/home /opt/dagster/home/storage \
        /tmp/dagster-compute-logs
COPY --from=build /opt/dagster/venv /opt/dagster/venv
COPY deploy/dagster.yaml deploy/workspace.yaml /opt/dagster/home/
COPY deploy/healthcheck.py /opt/dagster/healthcheck.py
ENV PATH=/opt/dagster/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home \
    PGSSLROOTCERT=/etc/ssl/certs/ca-certificates.crt \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/dagster/home
USER 10001:10001
EXPOSE 3000 4000
HEALTHCHECK --interval=60s --timeout=30s --start-period=120s --retries=3 \
    CMD ["python", "/opt/dagster/healthcheck.py"]
ENTRYPOINT ["tini", "--"]
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/dagster/home/workspace.yaml"]
