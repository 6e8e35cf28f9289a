"""The status page (`GET /` of the API): plain server-rendered HTML, no script and no build step.
Today's and tomorrow's games with each probability as a bar, the models behind the aliases with
their scores, a reliability plot of the served games, open alerts, the last daily decision and
retrain, and links to the Prefect and MLflow UIs. Every value from the stores is escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

import pandas as pd
from pydantic import BaseModel

from gameline.tasks.registry.snapshot import ModelStatus
from gameline.tasks.serving.overview import Overview

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 28px}header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;color:#b8c0cc;font-size:13px}header a{color:#9cc3ff}
main{display:grid;grid-template-columns:minmax(420px,3fr) minmax(320px,2fr);gap:18px;
padding:18px 28px}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px 18px}
h2{font-size:16px;margin:0 0 10px}table{border-collapse:collapse;width:100%;font-size:14px}
td,th{padding:5px 6px;border-bottom:1px solid #eef0f3;text-align:left;white-space:nowrap}
th{color:#5b6474;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:flex;height:18px;min-width:160px;border-radius:3px;overflow:hidden;font-size:12px}
.bar span{display:flex;align-items:center;padding:0 5px;color:#fff}
.home{background:#2f6fdf}.away{background:#c2c8d2;color:#1d2330!important;justify-content:end}
.muted{color:#6b7382}.ok{color:#1b7f3b}.bad{color:#b3261e}ul{margin:0;padding-left:18px}
"""


class Links(BaseModel):
    """Where a person goes next: the Prefect UI (None without a server), MLflow's UI (None for
    an embedded store: `mlflow_hint` says how to open it)."""

    prefect_ui: str | None
    mlflow_ui: str | None
    mlflow_hint: str


class PageView(BaseModel):
    """What the page shows."""

    title: str
    model: str
    now: datetime
    timezone: str
    games: list[dict[str, Any]]  # today's and tomorrow's served games (+ y where final)
    models: list[ModelStatus]
    overview: Overview
    links: Links


def _pct(p: float | None) -> str:
    return "-" if p is None or pd.isna(p) else f"{100 * p:.0f}%"


def _num(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def game_rows(view: PageView) -> str:
    if not view.games:
        return '<p class="muted">No games today or tomorrow in the served predictions.</p>'
    rows = []
    for g in view.games:
        p = float(g["p_home"])
        start = pd.Timestamp(g["start_time"]).tz_convert(view.timezone)
        y = g.get("y")
        result = "" if y is None or pd.isna(y) else ("home won" if y == 1 else "away won")
        bar = (
            f'<div class="bar" title="P(home win) {p:.3f}">'
            f'<span class="home" style="width:{100 * p:.1f}%">{_pct(p)}</span>'
            f'<span class="away" style="width:{100 * (1 - p):.1f}%">{_pct(1 - p)}</span></div>'
        )
        rows.append(
            f"<tr><td>{start:%a %d %b %H:%M}</td><td>{escape(str(g['away_team']))} @ "
            f"<b>{escape(str(g['home_team']))}</b></td><td>{bar}</td>"
            f"{line_cells(g)}"
            f"<td class='muted'>v{escape(str(g['model_version']))}</td><td>{result}</td></tr>"
        )
    head = (
        "<tr><th>start</th><th>away @ home</th><th>home | away</th>"
        "<th class='num'>spread (fair)</th><th class='num'>P(cover)</th>"
        "<th class='num'>total (fair)</th><th class='num'>P(over)</th><th>model</th><th></th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def line_cells(game: dict[str, Any]) -> str:
    """A game's posted spread and total with the fair ones, and P(cover), P(over) ('-' where
    a game has no line or the model no margin and total)."""

    def number(key: str, form: str) -> str:
        value = game.get(key)
        return "-" if value is None or pd.isna(value) else format(float(value), form)

    cells = (
        f"{number('home_spread', '+.1f')} ({number('fair_spread', '+.1f')})",
        _pct(game.get("p_cover")),
        f"{number('total_line', '.1f')} ({number('fair_total', '.1f')})",
        _pct(game.get("p_over")),
    )
    return "".join(f"<td class='num'>{escape(c)}</td>" for c in cells)


def model_rows(view: PageView) -> str:
    if not view.models:
        return '<p class="muted">No registered model yet: run <code>gameline run</code>.</p>'
    arms = {a["arm"]: a for a in view.overview.arms}
    head = (
        "<tr><th>alias</th><th>version</th><th>family</th><th>trained until</th>"
        "<th class='num'>out-of-fold log loss</th><th class='num'>live log loss</th>"
        "<th class='num'>live games</th></tr>"
    )
    rows = []
    for m in view.models:
        arm = arms.get(m.alias, {})
        rows.append(
            f"<tr><td>{escape(m.alias)}</td><td>v{escape(m.version)}</td>"
            f"<td>{escape(m.family or '-')}</td><td>{escape((m.trained_until or '-')[:10])}</td>"
            f"<td class='num'>{_num(m.metrics.get(f'{m.family}_log_loss'))}</td>"
            f"<td class='num'>{_num(arm.get('served_log_loss'))}</td>"
            f"<td class='num'>{arm.get('games', '-')}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def performance_block(view: PageView) -> str:
    perf, o = view.overview.performance, view.overview
    if perf is None:
        said = f"The last monitor run: {o.monitor_status}." if o.monitored_at else ""
        return f'<p class="muted">{escape(said or "The monitor has not run yet.")}</p>'
    if perf.status != "ok":
        return f'<p class="muted">{escape(perf.detail)}</p>'
    verdict = '<b class="bad">degraded</b>' if perf.degraded else '<b class="ok">holding</b>'
    return (
        f"<p>v{escape(str(perf.champion_version))} on {perf.games} finished served games: "
        f"{verdict}</p><table>"
        f"<tr><td>served log loss</td><td class='num'>{_num(perf.served_log_loss)}</td></tr>"
        f"<tr><td>promised (out of fold)</td><td class='num'>{_num(perf.promised_log_loss)}</td>"
        f"</tr><tr><td>Elo on the same games</td><td class='num'>{_num(perf.elo_log_loss)}</td>"
        f"</tr><tr><td>calibration error (ECE)</td><td class='num'>{_num(perf.ece)}</td></tr>"
        "</table>"
    )


def calibration_svg(curve: list[dict[str, Any]], size: int = 240) -> str:
    """Observed home-win rate against the mean served probability per bin (dot area: games)."""
    if not curve:
        return '<p class="muted">No served game has finished yet.</p>'
    pad, inner = 28, size - 40
    most = max(int(c["games"]) for c in curve)

    def xy(p: float, y: float) -> tuple[float, float]:
        return pad + p * inner, pad - 16 + (1 - y) * inner

    x0, y0 = xy(0, 0)
    x1, y1 = xy(1, 1)
    points = [(c, *xy(c["p_mean"], c["y_rate"])) for c in curve]
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" '
        f'r="{3 + 6 * (int(c["games"]) / most) ** 0.5:.1f}" fill="#2f6fdf" fill-opacity="0.75">'
        f"<title>{int(c['games'])} games: predicted {c['p_mean']:.2f}, won {c['y_rate']:.2f}"
        "</title></circle>"
        for c, x, y in points
    )
    return (
        f'<svg width="{size}" height="{size}" role="img" aria-label="calibration of served games">'
        f'<rect x="{x0}" y="{y1}" width="{inner}" height="{inner}" fill="#f3f5f8"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#9aa3b2" stroke-dasharray="4 3"/>'
        f"{dots}"
        f'<text x="{x0}" y="{y0 + 14}" font-size="11" fill="#5b6474">0</text>'
        f'<text x="{x1 - 8}" y="{y0 + 14}" font-size="11" fill="#5b6474">1</text>'
        f'<text x="{(x0 + x1) / 2 - 40}" y="{y0 + 14}" font-size="11" fill="#5b6474">'
        "served P(home)</text>"
        f'<text x="2" y="{y1 + 8}" font-size="11" fill="#5b6474">won</text></svg>'
    )


def alerts_block(view: PageView) -> str:
    alerts = view.overview.open_alerts
    if not alerts:
        return '<p class="ok">No open alerts.</p>'
    items = "".join(
        f"<li><b>{escape(str(a.get('kind')))}</b> since {escape(str(a.get('opened_at'))[:16])}: "
        f"{escape(str(a.get('summary')))}</li>"
        for a in alerts
    )
    return f"<ul>{items}</ul>"


def runs_block(view: PageView) -> str:
    o, links = view.overview, view.links
    lines = []
    if d := o.last_daily_decision:
        verdict = f"retrain on {d.trigger}" if d.retrain else "no retrain"
        lines.append(
            f"<li>last decision {d.decided_at:%Y-%m-%d %H:%M} UTC: {escape(verdict)}: "
            f"{escape(d.detail)}</li>"
        )
    if r := o.last_retrain:
        lines.append(f"<li>last retrain {r.decided_at:%Y-%m-%d %H:%M} UTC ({r.trigger})</li>")
    if o.monitored_at:
        lines.append(f"<li>last monitor run {o.monitored_at:%Y-%m-%d %H:%M} UTC</li>")
    prefect = (
        f'<a href="{escape(links.prefect_ui)}/runs">Prefect UI: flow runs</a>'
        if links.prefect_ui
        else '<span class="muted">no Prefect server (PREFECT_API_URL unset)</span>'
    )
    mlflow = (
        f'<a href="{escape(links.mlflow_ui)}">MLflow UI: {escape(view.model)}</a>'
        if links.mlflow_ui
        else f'<span class="muted">MLflow UI: <code>{escape(links.mlflow_hint)}</code></span>'
    )
    return f"<ul>{''.join(lines) or '<li>no daily run yet</li>'}</ul><p>{prefect}<br>{mlflow}</p>"


def status_page(view: PageView) -> str:
    """The whole page."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(view.title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(view.title)}</h1><p>{escape(view.model)} · "
        f"{view.now:%Y-%m-%d %H:%M} ({escape(view.timezone)}) · "
        '<a href="/docs">API docs</a> · <a href="/metrics">metrics</a></p></header><main>'
        f"<div><section><h2>Today and tomorrow</h2>{game_rows(view)}</section><br>"
        f"<section><h2>Models</h2>{model_rows(view)}</section></div>"
        f"<div><section><h2>Live performance</h2>{performance_block(view)}"
        f"{calibration_svg(view.overview.calibration)}</section><br>"
        f"<section><h2>Open alerts</h2>{alerts_block(view)}</section><br>"
        f"<section><h2>Runs</h2>{runs_block(view)}</section></div>"
        "</main></body></html>"
    )
