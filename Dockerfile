# One image for every service: admin_api, gateway, renderer and the migrate task differ only in
# their command, so a deploy builds, scans and pushes one artifact and the services can never
# run different code against the same database.

# The admin web UI (README, "Admin web UI"), from its lock; only the built bundle goes on.
FROM node:20-slim AS ui
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/ ./
RUN npm run build

FROM python:3.11-slim AS build
ENV UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
COPY libs/common/pyproject.toml libs/common/
COPY services/admin_api/pyproject.toml services/admin_api/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/renderer/pyproject.toml services/renderer/
RUN mkdir -p dyndash libs/common/dyndash_common services/admin_api/dyndash_admin_api \
        services/gateway/dyndash_gateway services/renderer/dyndash_renderer \
    && uv sync --frozen --no-dev --no-install-workspace
COPY . .
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 dyndash
WORKDIR /app
COPY --from=build --chown=dyndash:dyndash /app/.venv /app/.venv
COPY --from=ui --chown=dyndash:dyndash /ui/dist /app/ui/dist
ENV DYNDASH_ADMIN_UI_DIR=/app/ui/dist
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 DYNDASH_ENV=production \
    DYNDASH_ADMIN_HOST=0.0.0.0 DYNDASH_GATEWAY_HOST=0.0.0.0 \
    DYNDASH_RENDERER_METRICS_HOST=0.0.0.0 DYNDASH_METRICS_HOST=0.0.0.0
USER dyndash
# 9100: /metrics of whichever service the container runs (one service per container).
EXPOSE 8000 8001 9100
# Overridden per service: `dyndash admin`, `dyndash renderer`, `dyndash migrate`. The gateway
# serves on granian inside this one process (DYNDASH_GATEWAY_SERVER=uvicorn switches back).
CMD ["dyndash", "gateway", "--port", "8000"]
