"""Builds the Grafana dashboards (provisioning JSON) in dashboards/grafana/.

`python -m dashboards.grafana_build` rewrites the files; the JSON is committed
so deploy/ can mount it as is, and a test checks that it is up to date, that
every query uses metric names from dashboards.metric_names and that every
panel points at the provisioned Prometheus data source.

Four dashboards (titles in Spanish, the supervisors' language):

- ``atiende-wallboard``: the TV wall screen: one row of big tiles per queue
  (waiting, longest wait, SL today and last 15 min, abandonment, agents
  available, Erlang C advice) with threshold colours, legible from afar.
- ``atiende-supervisor``: queues over time, waits, service level against
  target, agents by state, the callback backlog per queue and the AMI
  bridge's health.
- ``atiende-agents``: the floor's performance: agents by state, occupancy,
  talk and handle times, calls handled per queue (no per-agent series: see
  dashboards.metric_names).
- ``atiende-indicators``: the quality indicators (dashboards.indicators):
  CSAT mean and distribution by channel, queue and organism, first contact
  resolution, ticket SLA compliance by organism and unit, complaints by unit,
  callbacks completed within target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboards import metric_names as m

GRAFANA_DIR = Path(__file__).resolve().parent / "grafana"
DATASOURCE_UID = "atiende-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}

Json = dict[str, Any]

_GREEN, _YELLOW, _RED = "green", "yellow", "red"


def _steps(*pairs: tuple[float | None, str]) -> Json:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in pairs]}


def _target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Json:
    target: Json = {"datasource": DATASOURCE, "expr": expr, "refId": ref}
    if legend:
        target["legendFormat"] = legend
    if instant:
        target["instant"] = True
    return target


class _Layout:
    """Hands out panel ids and grid positions, left to right, top to bottom."""

    def __init__(self) -> None:
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def place(self, w: int, h: int) -> Json:
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_height
            self.row_height = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos

    def new_row(self) -> None:
        if self.x:
            self.x = 0
            self.y += self.row_height
            self.row_height = 0

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def _stat(
    layout: _Layout,
    title: str,
    expr: str,
    *,
    unit: str,
    thresholds: Json,
    w: int = 4,
    h: int = 6,
    decimals: int | None = None,
) -> Json:
    defaults: Json = {"unit": unit, "thresholds": thresholds, "color": {"mode": "thresholds"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "id": layout.take_id(),
        "type": "stat",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": layout.place(w, h),
        "targets": [_target(expr, instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value",
            "justifyMode": "center",
            "orientation": "auto",
        },
    }


def _timeseries(
    layout: _Layout,
    title: str,
    targets: list[Json],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    stacked: bool = False,
) -> Json:
    custom: Json = {"fillOpacity": 20 if stacked else 0, "lineWidth": 2}
    if stacked:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return {
        "id": layout.take_id(),
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": layout.place(w, h),
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
    }


def _row(layout: _Layout, title: str, repeat: str | None = None) -> Json:
    layout.new_row()
    row: Json = {
        "id": layout.take_id(),
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": layout.place(24, 1),
        "panels": [],
    }
    if repeat:
        row["repeat"] = repeat
    layout.new_row()
    return row


def _queue_variable() -> Json:
    return {
        "name": "queue",
        "label": "Cola",
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": f"label_values({m.QUEUE_CALLS_WAITING}, queue)", "refId": "queues"},
        "definition": f"label_values({m.QUEUE_CALLS_WAITING}, queue)",
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def _dashboard(
    uid: str,
    title: str,
    panels: list[Json],
    *,
    refresh: str,
    tags: list[str],
    variables: list[Json] | None = None,
    since: str = "now-3h",
) -> Json:
    return {
        "uid": uid,
        "title": title,
        "tags": ["atiende", *tags],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": refresh,
        "time": {"from": since, "to": "now"},
        "templating": {"list": [_queue_variable()] if variables is None else variables},
        "annotations": {"list": []},
        "panels": panels,
    }


Q = 'queue=~"$queue"'


def wallboard() -> Json:
    layout = _Layout()
    panels: list[Json] = [_row(layout, "$queue", repeat="queue")]
    q = 'queue="$queue"'
    pct = "percentunit"
    panels += [
        _stat(
            layout,
            "En espera",
            f"{m.QUEUE_CALLS_WAITING}{{{q}}}",
            unit="none",
            thresholds=_steps((None, _GREEN), (3, _YELLOW), (6, _RED)),
            w=3,
        ),
        _stat(
            layout,
            "Espera más larga",
            f"{m.QUEUE_LONGEST_WAIT}{{{q}}}",
            unit="s",
            thresholds=_steps((None, _GREEN), (20, _YELLOW), (60, _RED)),
            w=4,
            decimals=0,
        ),
        _stat(
            layout,
            "Nivel de servicio hoy",
            f'{m.QUEUE_SERVICE_LEVEL}{{{q}, window="today"}}',
            unit=pct,
            thresholds=_steps((None, _RED), (0.7, _YELLOW), (0.8, _GREEN)),
            decimals=0,
        ),
        _stat(
            layout,
            "Nivel de servicio 15 min",
            f'{m.QUEUE_SERVICE_LEVEL}{{{q}, window="15m"}}',
            unit=pct,
            thresholds=_steps((None, _RED), (0.7, _YELLOW), (0.8, _GREEN)),
            decimals=0,
        ),
        _stat(
            layout,
            "Abandono hoy",
            f'{m.QUEUE_ABANDON_RATE}{{{q}, window="today"}}',
            unit=pct,
            thresholds=_steps((None, _GREEN), (0.05, _YELLOW), (0.1, _RED)),
            w=3,
            decimals=0,
        ),
        _stat(
            layout,
            "Agentes libres",
            f'sum({m.QUEUE_AGENTS}{{{q}, state="available"}})',
            unit="none",
            thresholds=_steps((None, _RED), (1, _YELLOW), (2, _GREEN)),
            w=3,
        ),
        _stat(
            layout,
            "Agentes necesarios",
            f"{m.QUEUE_AGENTS_NEEDED}{{{q}}}",
            unit="none",
            thresholds=_steps((None, "blue")),
            w=3,
        ),
    ]
    return _dashboard(
        "atiende-wallboard", "Atiende · Pantalla de sala", panels, refresh="5s", tags=["wallboard"]
    )


def supervisor() -> Json:
    layout = _Layout()
    by_queue = "{{queue}}"
    panels: list[Json] = [_row(layout, "Colas")]
    panels += [
        _timeseries(
            layout,
            "Llamadas en espera",
            [_target(f"{m.QUEUE_CALLS_WAITING}{{{Q}}}", by_queue)],
        ),
        _timeseries(
            layout,
            "Espera más larga",
            [_target(f"{m.QUEUE_LONGEST_WAIT}{{{Q}}}", by_queue)],
            unit="s",
        ),
        _timeseries(
            layout,
            "Nivel de servicio (15 min) y objetivo",
            [
                _target(f'{m.QUEUE_SERVICE_LEVEL}{{{Q}, window="15m"}}', by_queue),
                _target(f"{m.QUEUE_SL_TARGET}{{{Q}}}", "objetivo {{queue}}", "B"),
            ],
            unit="percentunit",
        ),
        _timeseries(
            layout,
            "Abandono (15 min)",
            [_target(f'{m.QUEUE_ABANDON_RATE}{{{Q}, window="15m"}}', by_queue)],
            unit="percentunit",
        ),
        _timeseries(
            layout,
            "Ofrecidas, atendidas y abandonadas por hora",
            [
                _target(f"sum(increase({m.QUEUE_OFFERED}_total{{{Q}}}[1h]))", "ofrecidas"),
                _target(f"sum(increase({m.QUEUE_ANSWERED}_total{{{Q}}}[1h]))", "atendidas", "B"),
                _target(f"sum(increase({m.QUEUE_ABANDONED}_total{{{Q}}}[1h]))", "abandonadas", "C"),
            ],
        ),
        _timeseries(
            layout,
            "Espera de las atendidas: ASA y percentil 90",
            [
                _target(f'{m.QUEUE_ASA}{{{Q}, window="15m"}}', "ASA {{queue}}"),
                _target(
                    "histogram_quantile(0.9, sum by (le, queue) "
                    f'(rate({m.QUEUE_WAIT}_bucket{{{Q}, outcome="answered"}}[15m])))',
                    "p90 {{queue}}",
                    "B",
                ),
            ],
            unit="s",
        ),
        _timeseries(
            layout,
            "Agentes por estado",
            [_target(f"sum by (state) ({m.QUEUE_AGENTS}{{{Q}}})", "{{state}}")],
            stacked=True,
        ),
        _timeseries(
            layout,
            "Agentes disponibles y necesarios (Erlang C)",
            [
                _target(
                    f'sum by (queue) ({m.QUEUE_AGENTS}{{{Q}, state="available"}})',
                    "disponibles {{queue}}",
                ),
                _target(f"{m.QUEUE_AGENTS_NEEDED}{{{Q}}}", "necesarios {{queue}}", "B"),
            ],
        ),
    ]
    # The callback worklist's backlog (dashboards.callback_metrics: the figures
    # /supervision shows); "fuera de objetivo" is what AtiendeCallbacksPastTarget
    # watches, so its tile turns red as soon as one is past its target.
    panels.append(_row(layout, "Devoluciones de llamada"))
    panels += [
        _stat(
            layout,
            "Devoluciones pendientes",
            f"sum({m.CALLBACKS_PENDING}{{{Q}}})",
            unit="none",
            thresholds=_steps((None, "blue")),
            w=6,
        ),
        _stat(
            layout,
            "Devoluciones para llamar ahora",
            f"sum({m.CALLBACKS_DUE}{{{Q}}})",
            unit="none",
            thresholds=_steps((None, "blue")),
            w=6,
        ),
        _stat(
            layout,
            "Devoluciones fuera de objetivo",
            f"sum({m.CALLBACKS_OVERDUE}{{{Q}}})",
            unit="none",
            thresholds=_steps((None, _GREEN), (1, _RED)),
            w=6,
        ),
        _stat(
            layout,
            "Devolución pendiente más antigua",
            f"max({m.CALLBACK_OLDEST_WAIT}{{{Q}}})",
            unit="s",
            thresholds=_steps((None, "blue")),
            w=6,
            decimals=0,
        ),
        _timeseries(
            layout,
            "Devoluciones por cola",
            [
                _target(f"{m.CALLBACKS_PENDING}{{{Q}}}", "pendientes {{queue}}"),
                _target(f"{m.CALLBACKS_DUE}{{{Q}}}", "para llamar {{queue}}", "B"),
                _target(f"{m.CALLBACKS_OVERDUE}{{{Q}}}", "fuera de objetivo {{queue}}", "C"),
            ],
        ),
        _timeseries(
            layout,
            "Espera de la devolución pendiente más antigua",
            [_target(f"{m.CALLBACK_OLDEST_WAIT}{{{Q}}}", by_queue)],
            unit="s",
        ),
    ]
    panels.append(_row(layout, "Puente con Asterisk"))
    panels += [
        _stat(
            layout,
            "Conectado a Asterisk",
            f"min({m.AMI_CONNECTED})",
            unit="none",
            thresholds=_steps((None, _RED), (1, _GREEN)),
        ),
        _stat(
            layout,
            "Último evento hace",
            f"max({m.AMI_LAST_EVENT_AGE})",
            unit="s",
            thresholds=_steps((None, _GREEN), (300, _YELLOW), (900, _RED)),
        ),
        _stat(
            layout,
            "Atraso del procesamiento",
            f"max({m.AMI_LAG})",
            unit="s",
            thresholds=_steps((None, _GREEN), (1, _YELLOW), (5, _RED)),
        ),
        _stat(
            layout,
            "Reconexiones (24 h)",
            f"sum(increase({m.AMI_RECONNECTS}_total[24h]))",
            unit="none",
            thresholds=_steps((None, _GREEN), (1, _YELLOW), (5, _RED)),
            decimals=0,
        ),
        _stat(
            layout,
            "Eventos AMI por segundo",
            f"sum(rate({m.AMI_EVENTS}_total[1m]))",
            unit="none",
            thresholds=_steps((None, "blue")),
        ),
        _stat(
            layout,
            "Escrituras pendientes",
            f"sum({m.STORE_PENDING})",
            unit="none",
            thresholds=_steps((None, _GREEN), (1000, _YELLOW), (10000, _RED)),
        ),
    ]
    return _dashboard(
        "atiende-supervisor", "Atiende · Supervisión", panels, refresh="10s", tags=["supervisor"]
    )


def agents() -> Json:
    layout = _Layout()
    busy = f'{m.AGENT_STATE_SECONDS}_total{{state=~"on_call|wrap_up"}}'
    ready = f'{m.AGENT_STATE_SECONDS}_total{{state=~"on_call|wrap_up|available|ringing"}}'
    panels: list[Json] = [_row(layout, "Sala")]
    panels += [
        _stat(
            layout,
            "Ocupación (1 h)",
            f"sum(rate({busy}[1h])) / sum(rate({ready}[1h]))",
            unit="percentunit",
            thresholds=_steps((None, "blue"), (0.6, _GREEN), (0.9, _RED)),
            w=6,
            decimals=0,
        ),
        _stat(
            layout,
            "Agentes conectados",
            f'sum({m.AGENTS}{{state!="logged_out"}})',
            unit="none",
            thresholds=_steps((None, "blue")),
            w=6,
        ),
        _stat(
            layout,
            "En pausa",
            f'sum({m.AGENTS}{{state="paused"}})',
            unit="none",
            thresholds=_steps((None, _GREEN), (5, _YELLOW)),
            w=6,
        ),
        _stat(
            layout,
            "Conversación media (1 h)",
            f"sum(rate({m.QUEUE_TALK}_sum{{{Q}}}[1h]))"
            f" / sum(rate({m.QUEUE_TALK}_count{{{Q}}}[1h]))",
            unit="s",
            thresholds=_steps((None, "blue")),
            w=6,
            decimals=0,
        ),
    ]
    panels += [
        _timeseries(
            layout,
            "Agentes por estado",
            [_target(f'{m.AGENTS}{{state!="logged_out"}}', "{{state}}")],
            stacked=True,
        ),
        _timeseries(
            layout,
            "Ocupación",
            [_target(f"sum(rate({busy}[15m])) / sum(rate({ready}[15m]))", "ocupación")],
            unit="percentunit",
        ),
        _timeseries(
            layout,
            "Tiempo por estado (por hora)",
            [_target(f"sum by (state) (increase({m.AGENT_STATE_SECONDS}_total[1h]))", "{{state}}")],
            unit="s",
            stacked=True,
        ),
        _timeseries(
            layout,
            "Conversación: mediana y percentil 90 por cola",
            [
                _target(
                    "histogram_quantile(0.5, sum by (le, queue) "
                    f"(rate({m.QUEUE_TALK}_bucket{{{Q}}}[1h])))",
                    "mediana {{queue}}",
                ),
                _target(
                    "histogram_quantile(0.9, sum by (le, queue) "
                    f"(rate({m.QUEUE_TALK}_bucket{{{Q}}}[1h])))",
                    "p90 {{queue}}",
                    "B",
                ),
            ],
            unit="s",
        ),
        _timeseries(
            layout,
            "Llamadas atendidas por hora y cola",
            [_target(f"increase({m.QUEUE_ANSWERED}_total{{{Q}}}[1h])", "{{queue}}")],
            w=24,
        ),
    ]
    return _dashboard(
        "atiende-agents", "Atiende · Desempeño de agentes", panels, refresh="30s", tags=["agentes"]
    )


DATASOURCE_YAML = f"""\
# Grafana data source provisioning for Atiende (mount at
# /etc/grafana/provisioning/datasources/). Dashboards refer to it by uid.
apiVersion: 1
datasources:
  - name: Atiende Prometheus
    uid: {DATASOURCE_UID}
    type: prometheus
    access: proxy
    url: ${{ATIENDE_PROMETHEUS_URL}}
    isDefault: true
    jsonData:
      timeInterval: 5s
"""

PROVIDER_YAML = """\
# Grafana dashboard provider for Atiende (mount at
# /etc/grafana/provisioning/dashboards/, and the JSON files at the path below).
apiVersion: 1
providers:
  - name: atiende
    folder: Atiende
    type: file
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: /var/lib/grafana/dashboards/atiende
      foldersFromFilesStructure: false
"""


def _bars(
    layout: _Layout,
    title: str,
    targets: list[Json],
    *,
    unit: str,
    thresholds: Json,
    w: int = 12,
    h: int = 8,
    decimals: int | None = None,
    limits: tuple[float, float] | None = None,
) -> Json:
    """Horizontal bars, one per series, of the last value (instant queries)."""
    defaults: Json = {"unit": unit, "thresholds": thresholds, "color": {"mode": "thresholds"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    if limits is not None:
        defaults["min"], defaults["max"] = limits
    return {
        "id": layout.take_id(),
        "type": "bargauge",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": layout.place(w, h),
        "targets": [{**t, "instant": True} for t in targets],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "basic",
            "showUnfilled": True,
        },
    }


def _csat(by: str) -> str:
    """CSAT mean by a label: points summed over responses summed (never a mean of
    means). `> 0` on every denominator: a group with nothing to count has no
    figure (as in the reports), not NaN."""
    return f"sum by ({by}) ({m.SURVEY_SCORE_POINTS}) / (sum by ({by}) ({m.SURVEY_RESPONSES}) > 0)"


_JUDGED = 'outcome=~"on_time|late|overdue"'


def _sla(by: str) -> str:
    return (
        f'sum by ({by}) ({m.TICKET_SLA_TICKETS}{{outcome="on_time"}})'
        f" / (sum by ({by}) ({m.TICKET_SLA_TICKETS}{{{_JUDGED}}}) > 0)"
    )


def _fcr(by: str) -> str:
    return (
        f'sum by ({by}) ({m.WRAPUPS_FINISHED}{{resolution="resuelta"}})'
        f" / (sum by ({by}) ({m.WRAPUPS_FINISHED}) > 0)"
    )


def indicators() -> Json:
    """Quality indicators over the metrics' rolling window (dashboards.indicator_metrics):
    the same sums the reports make, so a panel and /reportes over the same
    days agree."""
    layout = _Layout()
    callbacks = f"{m.CALLBACKS_COMPLETED}_total"
    csat_steps = _steps((None, _RED), (3.5, _YELLOW), (4.0, _GREEN))
    share_steps = _steps((None, _RED), (0.5, _YELLOW), (0.8, _GREEN))
    panels: list[Json] = [_row(layout, "Centro (últimos días)")]
    panels += [
        _stat(layout, "Satisfacción media (1 a 5)", _csat("window"), unit="none",
              thresholds=csat_steps, w=6, decimals=2),
        _stat(layout, "Resuelto en el primer contacto", _fcr("window"), unit="percentunit",
              thresholds=share_steps, w=6, decimals=0),
        _stat(layout, "Solicitudes respondidas en plazo", _sla("window"), unit="percentunit",
              thresholds=share_steps, w=6, decimals=0),
        _stat(layout, "Quejas y reclamos", f"sum({m.COMPLAINTS})", unit="none",
              thresholds=_steps((None, "blue")), w=6),
    ]  # fmt: skip
    panels.append(_row(layout, "Satisfacción (encuesta posterior a la llamada)"))
    panels += [
        _bars(layout, "Respuestas por nota",
              [_target(f"sum by (score) ({m.SURVEY_RESPONSES})", "{{score}}")],
              unit="none", thresholds=_steps((None, "blue")), w=8),
        _bars(layout, "Satisfacción por canal", [_target(_csat("channel"), "{{channel}}")],
              unit="none", thresholds=csat_steps, w=8, decimals=2, limits=(1, 5)),
        _bars(layout, "Satisfacción por cola", [_target(_csat("queue"), "{{queue}}")],
              unit="none", thresholds=csat_steps, w=8, decimals=2, limits=(1, 5)),
        _bars(layout, "Satisfacción por organismo",
              [_target(_csat("organism"), "{{organism}}")],
              unit="none", thresholds=csat_steps, w=12, decimals=2, limits=(1, 5)),
        _bars(layout, "Resuelto en el primer contacto por canal",
              [_target(_fcr("channel"), "{{channel}}")],
              unit="percentunit", thresholds=share_steps, w=12, decimals=0, limits=(0, 1)),
    ]  # fmt: skip
    # Every channel counted one way (dashboards.channel_figures).
    chan = m.CHANNEL_ATTENTIONS
    settled = 'state=~"answered_within|answered_late|abandoned"'
    panels.append(_row(layout, "Atención por canal"))
    panels += [
        _bars(layout, "Atenciones por canal",
              [_target(f"sum by (channel) ({chan})", "{{channel}}")],
              unit="none", thresholds=_steps((None, "blue")), w=12),
        _bars(layout, "Nivel de servicio por canal",
              [_target(f'sum by (channel) ({chan}{{state="answered_within"}})'
                       f" / (sum by (channel) ({chan}{{{settled}}}) > 0)", "{{channel}}")],
              unit="percentunit", thresholds=share_steps, w=12, decimals=0, limits=(0, 1)),
    ]  # fmt: skip
    panels.append(_row(layout, "Solicitudes y quejas"))
    panels += [
        _bars(layout, "Cumplimiento del plazo por organismo",
              [_target(_sla("organism"), "{{organism}}")],
              unit="percentunit", thresholds=share_steps, w=8, decimals=0, limits=(0, 1)),
        _bars(layout, "Cumplimiento del plazo por unidad",
              [_target(_sla("organism, unit"), "{{organism}}/{{unit}}")],
              unit="percentunit", thresholds=share_steps, w=8, decimals=0, limits=(0, 1)),
        _bars(layout, "Quejas y reclamos por unidad",
              [_target(f"sum by (organism, unit, type) ({m.COMPLAINTS})",
                       "{{organism}}/{{unit}} {{type}}")],
              unit="none", thresholds=_steps((None, "blue")), w=8),
        _timeseries(layout, "Satisfacción media en el tiempo",
                    [_target(_csat("channel"), "{{channel}}")], unit="none", w=16),
        # The worklist's own count (crm_bridge.callbacks, dashboards.callback_metrics).
        _bars(layout, "Devoluciones de llamada dentro del objetivo (24 h)",
              [_target(f'sum by (queue) (increase({callbacks}{{within_target="true"}}[24h]))'
                       f" / (sum by (queue) (increase({callbacks}[24h])) > 0)", "{{queue}}")],
              unit="percentunit", thresholds=share_steps, w=8, decimals=0, limits=(0, 1)),
    ]  # fmt: skip
    return _dashboard(
        "atiende-indicators",
        "Atiende: indicadores de calidad",
        panels,
        refresh="5m",
        tags=["calidad"],
        variables=[],
        since="now-7d",
    )


def files() -> dict[str, str]:
    """Relative path under dashboards/grafana/ -> file content."""
    out = {
        f"{board['uid']}.json": json.dumps(board, ensure_ascii=False, indent=2) + "\n"
        for board in (wallboard(), supervisor(), agents(), indicators())
    }
    out["provisioning/datasources/atiende.yml"] = DATASOURCE_YAML
    out["provisioning/dashboards/atiende.yml"] = PROVIDER_YAML
    return out


def main() -> None:
    for relative, content in files().items():
        path = GRAFANA_DIR / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
