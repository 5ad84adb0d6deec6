# The Starling relay as a container image: circuit relay v2, the skill registry, the PWA and
# /health on one HTTP port (WebSockets for browsers), and a TCP port for native peers.
#
#   docker build -t starling-relay .
#   docker run -d --name starling-relay -p 8080:8080 -p 4001:4001 -v starling-relay:/data starling-relay
#
# Behind a TLS proxy (deploy/compose.yaml runs it with Caddy), announce the public addresses:
#   -e STARLING_ANNOUNCE=/dns4/relay.example.com/tcp/443/wss,/dns4/relay.example.com/tcp/4001
# Every relay option has a STARLING_* variable (`docker run --rm starling-relay --help` lists them).
# docs/deploy.md is the whole guide.

# Debian (glibc), not Alpine: the lock file lists the build's native packages (rollup,
# rolldown, lightningcss) and node-datachannel for glibc Linux.
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: every dependency, the TypeScript build and the PWA ----------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# .npmrc: legacy-peer-deps (no React Native pulled in through @libp2p/webrtc)
COPY package.json package-lock.json .npmrc ./
# `npm ci` installs exactly the lock; where a registry lacks some platform's optional build of
# a native package, it refuses the lock as out of sync, and `npm install` (still the locked
# versions, see .ci/run) takes over. No package here needs an install script.
RUN npm ci --no-audit --no-fund --ignore-scripts \
 || npm install --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts

# ---- runtime: node, dist/, production dependencies; nothing else ---------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    STARLING_HOST=0.0.0.0 \
    STARLING_PORT=8080 \
    STARLING_TCP_PORT=4001 \
    STARLING_DATA_DIR=/data \
    STARLING_APP_DIR=/app/dist/app
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin/polyfill.mjs ./bin/polyfill.mjs
COPY --from=build /src/dist/node ./dist/node
COPY --from=build /src/dist/app ./dist/app
# The relay's key (its PeerID) lives in the data directory: keep it in a volume. The image's
# `node` user (uid 1000) owns it; the relay never runs as root.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
VOLUME ["/data"]
USER node
# HTTP: the PWA, /api/v1/*, /health and WebSockets for browsers; TCP: native peers.
EXPOSE 8080 4001
# /health answers 200 with status "starting" until the libp2p node is up, then "ok", or
# "degraded" (near a limit, still serving), and 503 "stopping" on the way out. No curl in a
# slim image: Node's fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.STARLING_PORT || 8080) + '/health').then(r => r.json()).then(b => process.exit(['ok', 'degraded'].includes(b.status) ? 0 : 1), () => process.exit(1))"]
# node is PID 1 here and the relay stops cleanly on SIGTERM (relay/main.ts). The polyfill is
# what every Node entry point loads (libp2p 3 needs Promise.withResolvers on Node 20).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--import", "./bin/polyfill.mjs", "dist/node/relay/main.js"]
CMD []
