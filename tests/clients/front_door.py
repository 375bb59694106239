"""Envoy, the front door, in front of the stack tests/clients/run.sh started.

    front_door.py render OUT_DIR ATTENDANCE ORIGIN   writes OUT_DIR/envoy-live.yaml
    front_door.py wait ADMIN_ADDRESS_FILE            prints the listener's host:port once
                                                     attendance-service passes Envoy's health check

The config is deploy/envoy/envoy.yaml with the CORS origin rendered by
deploy/envoy/render-cors.sh and only addresses changed: the listener and the
admin API on ephemeral loopback ports, the attendance cluster pointed at the
stack, and Envoy's upstream connections made from 127.0.0.2. The stack trusts
exactly that address (ATTN_TRUSTED_PROXIES=127.0.0.2/32), so calls through
Envoy are seen with the client address Envoy reports, while the other client
tests, which call attendance-service directly from 127.0.0.1, are seen as
before. Filters, routes, limits and the overload manager are the real ones.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ENVOY_YAML = ROOT / "deploy" / "envoy" / "envoy.yaml"
RENDER_CORS = ROOT / "deploy" / "envoy" / "render-cors.sh"
# Envoy's own source address towards attendance-service (see the docstring).
ENVOY_SOURCE = "127.0.0.2"


def render(out_dir: Path, attendance: str, origin: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = out_dir / "envoy.yaml"
    env = dict(os.environ, ATTN_CORS_ORIGINS=origin)
    subprocess.run(["sh", str(RENDER_CORS), str(ENVOY_YAML), str(rendered)], env=env, check=True, timeout=30)
    config = yaml.safe_load(rendered.read_text())
    config["admin"]["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    [listener] = config["static_resources"]["listeners"]
    listener["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    [cluster] = config["static_resources"]["clusters"]
    host, port = attendance.rsplit(":", 1)
    [group] = cluster["load_assignment"]["endpoints"]
    [endpoint] = group["lb_endpoints"]
    endpoint["endpoint"]["address"]["socket_address"].update(address=host, port_value=int(port))
    cluster["upstream_bind_config"] = {"source_address": {"address": ENVOY_SOURCE, "port_value": 0}}
    live = out_dir / "envoy-live.yaml"
    live.write_text(yaml.safe_dump(config))
    return live


def admin_get(admin: str, path: str) -> str:
    with urllib.request.urlopen(f"http://{admin}{path}", timeout=5) as response:
        return response.read().decode()


def wait(admin_file: Path, seconds: float = 60) -> str:
    """The listener's address, once Envoy is up and calls it the one attendance host healthy."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            admin = admin_file.read_text().strip()
            listeners = json.loads(admin_get(admin, "/listeners?format=json"))
            port = listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
            flags = re.findall(r"^attendance::[\d.]+:\d+::health_flags::(\S+)$", admin_get(admin, "/clusters"), re.M)
            if flags == ["healthy"]:
                return f"127.0.0.1:{port}"
            last = f"attendance health flags {flags}"
        except Exception as error:  # noqa: BLE001 - keep polling, report the last one
            last = repr(error)
        time.sleep(0.2)
    raise SystemExit(f"front_door.py: Envoy not ready in {seconds:.0f} s: {last}")


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["render", out_dir, attendance, origin]:
            print(render(Path(out_dir), attendance, origin))
        case ["wait", admin_file]:
            print(wait(Path(admin_file)))
        case _:
            raise SystemExit(__doc__)
