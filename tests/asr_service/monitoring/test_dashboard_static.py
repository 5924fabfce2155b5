"""The dashboard's files: the vendored uPlot is the recorded npm release, nothing loads from the network,
and the HTTP port serves exactly the listed files."""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request

import pytest

from asr_service.config import ServerConfig
from asr_service.monitoring import Monitor
from asr_service.monitoring._dashboard import STATIC_FILES, static_file
from tests.paths import REPO_ROOT

STATIC = REPO_ROOT / "asr_service" / "monitoring" / "static"
# uplot 1.6.32 from the npm registry (static/SOURCES.md; scripts/vendor-uplot)
VENDORED = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
}


def test_vendored_uplot_is_the_recorded_release() -> None:
    for name, digest in VENDORED.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    assert "MIT" in (STATIC / "uPlot.LICENSE").read_text()


def test_the_page_loads_nothing_from_the_network() -> None:
    page = (STATIC / "index.html").read_text()
    script = (STATIC / "dashboard.js").read_text()
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert sources and all(s.startswith("static/") and s[len("static/"):] in STATIC_FILES for s in sources), sources
    assert not re.search(r"https?://", page + script)


def test_only_listed_files_are_served() -> None:
    monitor = Monitor(ServerConfig(http_port=0, host="127.0.0.1"))
    assert monitor.http is not None
    monitor.http.start()
    base = f"http://127.0.0.1:{monitor.http.port}"
    try:
        for name, content_type in STATIC_FILES.items():
            with urllib.request.urlopen(f"{base}/static/{name}", timeout=10) as reply:
                assert reply.headers["Content-Type"] == content_type
                assert reply.read() == static_file(name)[0]  # type: ignore[index]
        with urllib.request.urlopen(base + "/", timeout=10) as reply:
            assert b"static/dashboard.js" in reply.read()
        for bad in ("/static/../_http.py", "/static/SOURCES.md", "/static/", "/static/%2e%2e/_http.py"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + bad, timeout=10)
            assert err.value.code == 404, bad
            err.value.close()
    finally:
        monitor.http.stop()
