# tracker: one instance on SQLite (mount /data), or several against PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TRACKER_HOST=0.0.0.0 \
    TRACKER_PORT=8000 \
    TRACKER_DATABASE_URL=sqlite:////data/tracker.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tracker ./tracker
COPY themes ./themes
COPY widget ./widget
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tracker \
    && mkdir -p /data && chown tracker /data

USER 10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('TRACKER_PORT', '8000'), timeout=2)"]
CMD ["tracker", "serve"]
