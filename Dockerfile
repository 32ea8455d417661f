# One image for every service and the gateway; SERVICES picks what a container runs.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
CMD ["node", "--import", "tsx", "bin/mesh.ts"]
