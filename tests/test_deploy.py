"""deploy/: the compose file runs two trackers on PostgreSQL behind nginx, and nginx passes live
streams through unbuffered. (No Docker engine in CI: a light check of the text, no YAML library.)"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = (ROOT / "deploy" / "compose.yaml").read_text()
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()


def services() -> dict[str, str]:
    """Each top-level service of compose.yaml and its indented body."""
    body = re.search(r"^services:\n(.*?)(?=^\S)", COMPOSE, flags=re.M | re.S)
    assert body is not None
    parts = re.split(r"^  ([\w-]+):\n", body.group(1), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_compose_runs_two_trackers_on_postgresql_behind_nginx():
    assert "\t" not in COMPOSE
    found = services()
    assert set(found) == {"postgres", "tracker-1", "tracker-2", "nginx"}
    assert "image: postgres:15" in found["postgres"] and "pg_isready" in found["postgres"]
    for name in ("tracker-1", "tracker-2"):
        assert found[name].strip() == "<<: *tracker"
    template = re.search(r"^x-tracker: &tracker\n(.*?)(?=^\S)", COMPOSE, flags=re.M | re.S)
    assert template is not None
    assert "context: .." in template.group(1) and (ROOT / "Dockerfile").is_file()
    assert re.search(r"TRACKER_DATABASE_URL: postgresql://\S+@postgres:5432/", template.group(1))
    assert "TRACKER_SECRET_KEYS: ${TRACKER_SECRET_KEYS:?" in template.group(1)  # one shared key, required
    assert "condition: service_healthy" in template.group(1)
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in found["nginx"]


def test_nginx_balances_over_the_compose_trackers_and_streams_unbuffered():
    assert NGINX.count("{") == NGINX.count("}")
    directives = {line.strip() for line in NGINX.splitlines() if not line.strip().startswith("#")}
    for setting in ("proxy_buffering off;", "proxy_read_timeout 1h;", "proxy_http_version 1.1;",
                    'proxy_set_header Connection "";', "proxy_pass http://tracker;"):
        assert setting in directives, setting
    port = re.search(r"TRACKER_PORT=(\d+)", (ROOT / "Dockerfile").read_text())
    assert port is not None
    upstream = set(re.findall(r"^\s*server ([\w-]+):(\d+);", NGINX, flags=re.M))
    assert upstream == {("tracker-1", port.group(1)), ("tracker-2", port.group(1))}


def test_only_nginx_may_say_who_the_visitor_is():
    """uvicorn believes X-Forwarded-For from the addresses in FORWARDED_ALLOW_IPS; with "*", a
    visitor who writes the header picks a new rate-limit key per request."""
    trusted = re.search(r"FORWARDED_ALLOW_IPS: (\S+)", COMPOSE)
    nginx_address = re.search(r"ipv4_address: (\S+)", services()["nginx"])
    assert trusted is not None and nginx_address is not None
    assert trusted.group(1) == nginx_address.group(1) != "*"
    subnet = re.search(r"subnet: (\S+)", COMPOSE)
    assert subnet is not None and ipaddress.ip_address(nginx_address.group(1)) in ipaddress.ip_network(subnet.group(1))
    directives = {line.strip() for line in NGINX.splitlines() if not line.strip().startswith("#")}
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in directives
