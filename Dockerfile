# One image for every service and the gateway; SERVICES picks what a container runs.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# The back office's page (served by the gateway at /console/), bundled once at build time.
RUN node --import tsx console/build.ts
# KYC documents (STORAGE_DIR in docker-compose.yml). A named volume mounted here starts as
# a copy of this directory, owner included, so the service running as `node` can write.
RUN install -d -o node -g node /data/documents
USER node
# A larger young generation: each call allocates a few hundred KB that dies young;
# with the default 16 MB, scavenges ran every ~100 ms under load and promoted garbage
# (64 MB was faster still but took the mesh past 400 MB resident). Under load, calls in
# flight still outlive two scavenges and are promoted; V8's default lets the old
# generation grow to ~3x what is live before a full collection (277 MB for 89 live, and
# 600 MB resident on the hot line), so the next full collection starts at 1.5x instead.
# The same flags as `npm start` (package.json).
CMD ["node", "--max-semi-space-size=32", "--heap-growing-percent=50", "--import", "tsx", "bin/mesh.ts"]
