"""Checks deploy/observability against a live Prometheus scraping a live
ATTN stack (tests/observability/run.sh starts both):

    check_live.py <prometheus base URL> <deploy/observability>

Waits (bounded, by polling the HTTP API) until Prometheus has scraped all
three services and evaluated the rules, then checks: every target up;
every metric name that alerts.yml or the Grafana dashboard uses exists in
the live data; every expression of both evaluates; every rule's health is
ok; no alert is firing or pending. Prints what it checked."""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

import yaml

JOBS = {"attendance", "verification", "sweeper"}
# PromQL words that look like names but are not series: keywords, and the
# label lists after these (removed before names are read).
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "atan2", "inf", "nan", "start", "end"}
LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects. Strings, label
    matchers, ranges, label lists and Grafana variables are removed first;
    of what remains, an identifier followed by `(` is a function or an
    aggregation, and one right after a digit is part of a number or a
    duration. Histogram series are named as stored (`…_bucket`), so the
    names compare directly with the live ones."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = LABEL_LISTS.sub(" ", e)
    e = re.sub(r"\$\w+", " ", e)
    names = set()
    for match in IDENTIFIER.finditer(e):
        token = match.group(0)
        before = e[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":
            continue
        if e[match.end():].lstrip().startswith("(") or token.lower() in KEYWORDS:
            continue
        names.add(token)
    return names


def self_test() -> None:
    cases = {
        'sum by (job) (rate(grpc_server_handled_total{grpc_code=~"Internal|Unknown"}[5m])) / sum by (job) (rate(grpc_server_handled_total[5m])) > 0.01':
            {"grpc_server_handled_total"},
        'histogram_quantile(0.99, sum by (grpc_method, le) (rate(grpc_server_handling_seconds_bucket{grpc_method!~"Watch.*"}[$__rate_interval])))':
            {"grpc_server_handling_seconds_bucket"},
        'absent(up{job="attendance"}) or absent(up{job="sweeper"})': {"up"},
        "max(attn_sweep_lag_seconds) > 3e2 and on (job) attn_dependency_up offset 5m == 1": {"attn_sweep_lag_seconds", "attn_dependency_up"},
        "sum(x) without (instance) / ignoring(le) group_left(job) y": {"x", "y"},
    }
    for expr, want in cases.items():
        got = metric_names(expr)
        assert got == want, f"metric_names({expr!r}) = {got}, want {want}"


def get(base: str, path: str, **params) -> dict:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body}")
    return body["data"]


def wait_for(what: str, seconds: float, check):
    """Polls `check` (returns a truthy result or None) until it answers."""
    deadline = time.monotonic() + seconds
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, RuntimeError) as error:  # not listening yet
            last_error = error
        time.sleep(0.5)
    raise SystemExit(f"FAILED: {what} within {seconds:.0f} s (last error: {last_error})")


def timestamp(text: str) -> float:
    """Prometheus's RFC 3339 times (nanoseconds) as seconds since the epoch."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def dashboard_exprs(panels: list) -> list[tuple[str, str]]:
    found = []
    for panel in panels:
        found += [(panel["title"], t["expr"]) for t in panel.get("targets", []) if t.get("expr")]
        found += dashboard_exprs(panel.get("panels", []))
    return found


def main() -> None:
    self_test()
    base, observability = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    rules_file = yaml.safe_load((observability / "alerts.yml").read_text())
    alerts = [(r["alert"], r["expr"]) for g in rules_file["groups"] for r in g["rules"]]
    dashboard = json.loads((observability / "grafana" / "attn-dashboard.json").read_text())
    panels = dashboard_exprs(dashboard["panels"])

    # Every target scraped, and up.
    def targets_up():
        active = get(base, "/api/v1/targets", state="active")["activeTargets"]
        jobs = {t["labels"]["job"]: t for t in active}
        if set(jobs) == JOBS and all(t["health"] == "up" for t in active):
            return active
        return None

    active = wait_for("all three targets scraped and up", 60, targets_up)
    for target in sorted(active, key=lambda t: t["labels"]["job"]):
        print(f"target {target['labels']['job']:<13} {target['scrapeUrl']:<36} health={target['health']}"
              f" lastScrapeDuration={target['lastScrapeDuration']:.4f}s")

    # Every metric name the alerts and the dashboard use is in the live data.
    # Some appear only once something happened (a job round, a face call),
    # so wait for them, bounded.
    wanted: dict[str, set[str]] = {}
    for where, expr in [(f"alert {a}", e) for a, e in alerts] + [(f"panel {p!r}", e) for p, e in panels]:
        for name in metric_names(expr):
            wanted.setdefault(name, set()).add(where)

    def all_names_present():
        live = set(get(base, "/api/v1/label/__name__/values"))
        missing = set(wanted) - live
        return live if not missing else None

    try:
        live = wait_for("every referenced metric name in the live data", 90, all_names_present)
    except SystemExit:
        live = set(get(base, "/api/v1/label/__name__/values"))
        for name in sorted(set(wanted) - live):
            print(f"MISSING {name}: used by {', '.join(sorted(wanted[name]))}")
        raise
    print(f"metric names used by alerts.yml and the dashboard: {len(wanted)}, all in the live data:")
    for name in sorted(wanted):
        series = get(base, "/api/v1/query", query=f"count({{__name__={json.dumps(name)}}})")["result"]
        print(f"  {name:<40} {int(float(series[0]['value'][1])) if series else 0:>4} series")

    # Every expression evaluates (Grafana's $__rate_interval as 1m).
    for where, expr in [(f"alert {a}", e) for a, e in alerts] + [(f"panel {p!r}", e) for p, e in panels]:
        get(base, "/api/v1/query", query=expr.replace("$__rate_interval", "1m"))
    print(f"expressions evaluated: {len(alerts)} alert rules, {len(panels)} dashboard queries")

    # The rules loaded, are healthy, and were evaluated after every target
    # had been scraped: an evaluation before the first scrapes sees no `up`
    # for some jobs, and AttnServiceAbsent rightly turns pending until the
    # next one (the only alert a starting Prometheus shows on a healthy
    # stack, for one evaluation interval).
    scraped = max(timestamp(t["lastScrape"]) for t in active)

    def rules_evaluated():
        groups = get(base, "/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if len(rules) == len(alerts) and all(timestamp(g["lastEvaluation"]) > scraped for g in groups):
            return rules
        return None

    rules = wait_for("the rules loaded and evaluated", 30, rules_evaluated)
    bad = [f"{r['name']}: {r['health']} {r.get('lastError', '')}" for r in rules if r["health"] != "ok"]
    for rule in rules:
        print(f"rule {rule['name']:<26} health={rule['health']} state={rule['state']}")
    if bad:
        raise SystemExit(f"FAILED: unhealthy rules: {bad}")

    # A fresh stack with a little traffic has nothing to alert about.
    alerting = get(base, "/api/v1/alerts")["alerts"]
    for alert in alerting:
        print(f"ALERT {alert['labels']['alertname']} {alert['state']} {alert['labels']}")
    if alerting:
        raise SystemExit(f"FAILED: {len(alerting)} alerts pending or firing on a fresh stack")
    print("alerts firing or pending: none")


if __name__ == "__main__":
    main()
