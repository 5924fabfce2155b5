"""The browser client served at `/app/` by the HTTP port: a built bundle, committed, so that an installed
package serves it without node.

Built from `web/` by `scripts/build_web` (esbuild; docs/browser.md). `BUILD.json` records a hash of the
sources it was built from (`web/src`, the build script, `package.json`, `package-lock.json` and
`protos/asr/v1/asr.proto`) and of each built file; `scripts/build_web --check` (run by `scripts/check`,
no node needed) fails when either no longer matches.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["APP_FILES", "app_file"]

# name -> content type: only these are served (no path from the URL ever reaches the file system)
APP_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "fvad.wasm": "application/wasm",
    "BUILD.json": "application/json",
}


def app_file(name: str) -> tuple[bytes, str] | None:
    """(content, content type) of a file of the browser client; None for any other name."""
    content_type = APP_FILES.get(name)
    if content_type is None:
        return None
    return (resources.files("asr_service.webapp") / name).read_bytes(), content_type
