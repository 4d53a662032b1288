# syntax=docker/dockerfile:1
# foi-mailbot in one small image. Configuration comes from a mounted TOML file
# (FOI_MAILBOT_CONFIG), FOI_MAILBOT_<SECTION>__<KEY> variables and secret files
# (FOI_MAILBOT_<SECTION>__<KEY>_FILE, or an OAuth2 client secret or key file named in the
# configuration); nothing secret is baked in. Local state (the SQLite
# database, the embedded Maildir, outgoing .eml files) lives in the /data volume.
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# glibc's allocator: message bodies of megabytes, held briefly, are mapped of their own and
# given back when freed (a fixed threshold: glibc would otherwise raise it as blocks are freed
# and keep the high-water mark for good), free heap beyond 128 KB is returned, and two arenas
# are enough for the daemon's few threads. Without these, RSS creeps up over weeks.
ENV MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_TRIM_THRESHOLD_=131072

RUN groupadd --system --gid 10001 foi-mailbot \
 && useradd --system --uid 10001 --gid foi-mailbot --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin foi-mailbot

WORKDIR /src
# Dependencies first, exactly as locked (versions and hashes, the Microsoft 365 and Google
# token providers included), so that a source change does not reinstall them; then the package
# itself, which may not pull in anything the lock does not hold.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
# foi_mailbot/templates links to ../templates, so the templates travel with the package.
COPY templates ./templates
COPY foi_mailbot ./foi_mailbot
RUN pip install --no-cache-dir --no-deps . \
 && rm -rf /src \
 && mkdir -p /data \
 && chown foi-mailbot:foi-mailbot /data

ENV FOI_MAILBOT_PATHS__DATA_DIR=/data
VOLUME /data
WORKDIR /data
USER 10001:10001

# The health endpoint (health.port); it listens on 127.0.0.1 inside the container, which is
# where the HEALTHCHECK runs. Set FOI_MAILBOT_HEALTH__HOST=0.0.0.0 to scrape /metrics from
# another container, and keep the check's port in step if you change health.port.
EXPOSE 8025
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8025/healthz', timeout=5)"

ENTRYPOINT ["foi-mailbot"]
CMD ["run"]
