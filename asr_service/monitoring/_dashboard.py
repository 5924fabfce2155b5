"""The dashboard page and its static files (`asr_service/monitoring/static/`), served by the HTTP port.

`GET /` is `static/index.html`; it loads `static/dashboard.js`, which polls `/api/timeseries` every 2 s
(`?refresh_ms=`, `?span_s=`, `?step_s=` change it) and draws with uPlot (vendored: `static/SOURCES.md`),
so the page needs no network. Panels: server time per clip (p50, p95, p95 of the clips the budget is
for) against the budget and the latency alarm's limit; requests per second; null rate against its
alarm limit and the baseline's rate; confidence (mean, low-confidence share) against the baseline
band and the alarm limits; input volume against the baseline band and the volume alarm limits; clip
length, client-VAD speech ratio, voice pitch and words per second against the baseline's p10-p90 band
and median; and the alarms (firing / ok / no data).
"""

from __future__ import annotations

from importlib import resources

__all__ = ["STATIC_FILES", "static_file"]

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8"}
# name -> content type: only these are served (no path from the URL ever reaches the file system)
STATIC_FILES = {name: _TYPES[suffix] for name, suffix in (
    ("index.html", ".html"), ("dashboard.js", ".js"), ("uPlot.iife.min.js", ".js"), ("uPlot.min.css", ".css"))}


def static_file(name: str) -> tuple[bytes, str] | None:
    """(content, content type) of a served static file; None for any other name."""
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        return None
    return (resources.files("asr_service.monitoring") / "static" / name).read_bytes(), content_type
