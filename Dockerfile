# syntax=docker/dockerfile:1
#
# sanasend-bot container image. Two stages:
#   build    a static, trimmed sanasend-bot binary (Go, CGO off, version stamped in)
#   runtime  a Node.js image that can also run the WhatsApp service the bot supervises
#
#   docker build \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     -t sanasend-bot .
#
# Bot and service in ONE container: build on your WhatsApp-service image (it
# carries the service and Chromium; it must be Debian/Ubuntu based, as apt-get
# is used below):
#
#   docker build --build-arg RUNTIME_IMAGE=registry.example.com/sanasend/whatsapp-service:1.4.2 ...
#
# The bot starts the service as its own child (`npm start`, in its own
# session), so stopping the container stops both. See "## Deploying" in
# README.md, and deploy/sanasend-bot.service for the bot on the host instead.

# The runtime base: must have node and npm on PATH. Declared before the first
# FROM so that a FROM can use it.
ARG RUNTIME_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------
# build: pinned by tag. For fully reproducible builds pin the digest as well,
# e.g. FROM golang:1.26-bookworm@sha256:<digest> (`docker buildx imagetools
# inspect golang:1.26-bookworm` prints it) and let Renovate/Dependabot bump it;
# the same applies to RUNTIME_IMAGE.
# $BUILDPLATFORM: the compiler runs natively and cross-compiles for
# $TARGETPLATFORM (CGO is off), so multi-arch builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src

# Modules first: this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS
ARG TARGETARCH
# Same flags as `make build` (Makefile LDFLAGS): -s -w strip the symbol and
# DWARF tables, -trimpath drops local paths, -X stamps what `sanasend-bot
# version` prints. -buildvcs=false: .git is not in the build context.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/sanasend-bot ./cmd/sanasend-bot

# ---------------------------------------------------------------------------
# runtime
FROM ${RUNTIME_IMAGE} AS runtime

ARG RUNTIME_IMAGE
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="sanasend-bot" \
      org.opencontainers.image.description="Supervises the SanaSend WhatsApp service and puts its controls in Slack" \
      org.opencontainers.image.source="https://github.com/sanasend/sanasend-bot" \
      org.opencontainers.image.url="https://github.com/sanasend/sanasend-bot" \
      org.opencontainers.image.documentation="https://github.com/sanasend/sanasend-bot#deploying" \
      org.opencontainers.image.vendor="SanaSend" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

# tini: PID 1. It forwards SIGTERM to the bot and reaps zombies. Reaping
# matters here: the service's Chromiums are started detached and Chromium's
# crash handler double-forks, so when they exit their parent is long gone and
# they are reparented to PID 1. Without a reaper (the bot as PID 1 only waits
# for its own children) they stay zombies, fill the PID table and show up as
# "survivors" after a stop. tini comes from Debian's package, so it is
# updated with the base image. ca-certificates: the bot calls Slack over
# https and the slim image has no CA bundle.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A dedicated non-root user, uid/gid 10001, rather than the node image's
# `node` (uid 1000): uid 1000 is the first login user on most hosts, so
# bind-mounted state would belong to a real person there; a site's
# RUNTIME_IMAGE may have no `node` user, or have it at another uid; and a
# uid above 10000 never matches a host account. The service runs as this
# user too (the bot starts it), so its dir must be writable by it. If a
# site image's service files belong to another uid, pass
# --build-arg APP_UID=<that uid> (an existing uid is reused as is).
ARG APP_UID=10001
ARG APP_GID=10001
RUN set -eu; \
    getent group "${APP_GID}" >/dev/null || groupadd --system --gid "${APP_GID}" sanasend; \
    getent passwd "${APP_UID}" >/dev/null || useradd --system --uid "${APP_UID}" --gid "${APP_GID}" \
        --home-dir /var/lib/sanasend --no-create-home --shell /usr/sbin/nologin sanasend; \
    mkdir -p /etc/sanasend /var/lib/sanasend; \
    chown "${APP_UID}:${APP_GID}" /var/lib/sanasend; \
    chmod 0750 /var/lib/sanasend

COPY --from=build /out/sanasend-bot /usr/local/bin/sanasend-bot

# Config (mount it read-only) and state (pid files, recorded intent, the
# alert outbox; keep it across containers). The config must say
# state_dir: /var/lib/sanasend, as deploy/sanasend-bot.example.yaml does.
# HOME is the state dir too: npm's cache and Chromium's ~/.config land there.
ENV SANASEND_CONFIG=/etc/sanasend/sanasend-bot.yaml \
    HOME=/var/lib/sanasend
VOLUME ["/etc/sanasend", "/var/lib/sanasend"]
WORKDIR /var/lib/sanasend

USER ${APP_UID}:${APP_GID}

# slack.listen (default :8080): GET /healthz in both modes; in HTTP mode
# also Slack's POST /slack/commands and /slack/interactions.
EXPOSE 8080

# There is no health subcommand and slim images have no curl: node is there
# by construction. SANASEND_HEALTHCHECK_URL overrides the address when
# slack.listen is not :8080 (SANASEND_* variables never reach the service).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "require('http').get(process.env.SANASEND_HEALTHCHECK_URL || 'http://127.0.0.1:8080/healthz', r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]

# SIGTERM makes the bot stop taking requests, finish the action in flight and
# exit; give it time: `docker run --stop-timeout 90` / compose
# stop_grace_period: 90s (a restart in flight is stop_timeout + start_timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "sanasend-bot"]
CMD ["serve"]
