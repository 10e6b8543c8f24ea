"""The web client of `make run`: a pinned Hydrogen build, served on loopback.

Hydrogen (npm `hydrogen-view-sdk`, prebuilt, with E2EE through libolm's wasm) is mounted as a
whole app by web/hydrogen/src/main.js; web/hydrogen/package-lock.json pins it. `build()` runs
`npm ci` and the esbuild bundle once (about 15 s; again only when the lock file or the sources
change) into web/hydrogen/dist/, and `WebClient` serves that folder with a generated
`config.json` that points the client at the local homeserver. node/npm missing, or a failed
install: `build()` says why and returns None — `make run` goes on without a web client.

The browser tests (tests/browser/) serve the same build the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger(__name__)

# web/hydrogen beside appservice/ in the source tree (an editable install, as `make` does it).
WEB_DIR = Path(os.environ.get("YAKUBA_WEB_DIR") or Path(__file__).resolve().parents[3] / "web" / "hydrogen")
DEFAULT_PORT = 8080
_STAMP = ".yakuba-build"


def _inputs_digest(web_dir: Path) -> str:
    """What the build depends on: the lock file, package.json, the sources and build script."""
    h = hashlib.sha256()
    files = [web_dir / "package.json", web_dir / "package-lock.json", web_dir / "build.mjs",
             *sorted((web_dir / "src").glob("*"))]
    for path in files:
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def is_built(web_dir: Path = WEB_DIR) -> bool:
    stamp = web_dir / "dist" / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == _inputs_digest(web_dir)


def build(web_dir: Path = WEB_DIR, *, quiet: bool = True) -> Path | None:
    """web_dir/dist, built if needed; None (with the reason printed) if it cannot be."""
    if is_built(web_dir):
        return web_dir / "dist"
    if not (web_dir / "package-lock.json").is_file():
        print(f"Web client skipped: {web_dir}/package-lock.json not found.", flush=True)
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print("Web client skipped: node and npm are not installed "
              "(Debian/Ubuntu: `apt-get install nodejs npm`, then `make run` again). "
              "Any Matrix client still works with the homeserver URL below.", flush=True)
        return None
    out = subprocess.DEVNULL if quiet else None
    print("Building the web client (Hydrogen, npm ci + esbuild; once)…", flush=True)
    for cmd in ([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], [npm, "run", "--silent", "build"]):
        try:
            done = subprocess.run(cmd, cwd=web_dir, stdout=out, stderr=subprocess.PIPE, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"Web client skipped: `{' '.join(cmd[1:])}` failed ({type(exc).__name__}).", flush=True)
            return None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
            print(f"Web client skipped: `npm {' '.join(cmd[1:3])}` exited {done.returncode}:", *tail,
                  sep="\n  ", flush=True)
            return None
    (web_dir / "dist" / _STAMP).write_text(_inputs_digest(web_dir) + "\n")
    return web_dir / "dist"


def client_config(hs_url: str) -> dict[str, object]:
    """Hydrogen's config.json: the homeserver it logs in to, nothing else (no push gateway,
    no outside services)."""
    return {"defaultHomeServer": hs_url}


def make_app(dist: Path, hs_url: str) -> web.Application:
    config = json.dumps(client_config(hs_url)).encode()

    async def config_json(_: web.Request) -> web.Response:
        return web.Response(body=config, content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(dist / "index.html", headers={"Cache-Control": "no-store"})

    @web.middleware
    async def headers(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.endswith(".wasm"):
            response.content_type = "application/wasm"  # libolm is loaded with streaming compile
        return response

    app = web.Application(middlewares=[headers])
    app.router.add_get("/config.json", config_json)
    app.router.add_get("/", index)
    app.router.add_static("/", dist, show_index=False, follow_symlinks=False)
    return app


class WebClient:
    """Serves a built dist/ on host:port until `stop()`."""

    def __init__(self, dist: Path, hs_url: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.dist, self.hs_url, self.host, self.port = dist, hs_url, host, port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        self._runner = web.AppRunner(make_app(self.dist, self.hs_url), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("web_client_started", url=self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def start_web_client(hs_url: str, port: int = DEFAULT_PORT) -> WebClient | None:
    """Build (if needed) and serve the web client for `make run`; None if it cannot be, with
    the reason printed — never an error."""
    import asyncio

    dist = await asyncio.to_thread(build)
    if dist is None:
        return None
    client = WebClient(dist, hs_url, port=port)
    try:
        await client.start()
    except OSError as exc:
        print(f"Web client skipped: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}).", flush=True)
        return None
    return client


def banner_line(client: WebClient | None) -> str:
    """The banner's line about the web client (run.py)."""
    if client is None:
        return "ウェブクライアント / Web client: なし / none (see the message above)"
    return (f"ウェブクライアント / Web client: {client.url}  "
            "(ブラウザで開き admin でログイン / open in a browser, log in as admin)")


def yakuba_config(port: int = DEFAULT_PORT) -> dict[str, object]:
    """What `make run` writes into a new var/yakuba.yaml for this client: notices link to the
    message's room in it (Hydrogen opens a room from a URL; it cannot scroll to one event)."""
    return {"links": {"permalink": f"http://127.0.0.1:{port}/#/last-session/open-room/{{room_id}}"}}
