"""/admin/: the admin web UI's built bundle (README, "Admin web UI").

index.html is revalidated on every load (`no-cache`) so a deploy shows at once; everything
under assets/ carries a content hash in its name and is cached for a year. Client routes
(/admin/templates/7) answer index.html. The pages run under a CSP that allows only the
bundle's own scripts: the API key lives in sessionStorage, so an injected script must not run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from dyndash_common.settings import Settings

# The checkout's bundle, as `make sync` builds it: services/admin_api/dyndash_admin_api/ → ui/dist.
CHECKOUT_BUNDLE = Path(__file__).resolve().parents[3] / "ui" / "dist"

# Styles may be inline: CodeMirror sets element styles, and the preview frame (sandboxed,
# without scripts) inherits this policy and carries the template's CSS in a <style>. Images
# and fonts over https are allowed for the same frame: templates may show them.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; font-src 'self' https:; connect-src 'self'; frame-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY = {
    "Content-Security-Policy": POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
REVALIDATE = {**SECURITY, "Cache-Control": "no-cache"}
IMMUTABLE = {**SECURITY, "Cache-Control": "public, max-age=31536000, immutable"}

MISSING = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>dyndash admin UI not built</title></head><body><main>
<h1>The admin web UI is not built</h1>
<p>Run <code>make sync</code> (it needs Node.js 20 and npm: <a href="https://nodejs.org/">nodejs.org</a>,
or your system's <code>nodejs</code> and <code>npm</code> packages), then reload.
The API itself is up: see <a href="/docs">/docs</a>.</p>
</main></body></html>"""


def bundle_dir(settings: Settings) -> Path:
    return settings.admin_ui_dir or CHECKOUT_BUNDLE


def ui_router(settings: Settings) -> APIRouter:
    root = bundle_dir(settings).resolve()
    router = APIRouter(include_in_schema=False)

    @router.get("/admin")
    async def bare() -> Response:
        return RedirectResponse("/admin/", status_code=308)

    @router.get("/admin/config.json")
    async def config() -> Response:
        body = {
            "gateway_url": settings.admin_ui_gateway_url,
            "gateway_port": settings.gateway_port,
        }
        return JSONResponse(body, headers=REVALIDATE)

    @router.get("/admin/{path:path}")
    async def serve(path: str, request: Request) -> Response:
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(MISSING, status_code=503, headers=REVALIDATE)
        if path.startswith("assets/"):
            target = (root / path).resolve()
            if target.is_relative_to(root / "assets") and target.is_file():
                return FileResponse(target, headers=IMMUTABLE)
            return HTMLResponse("<h1>Not found</h1>", status_code=404, headers=REVALIDATE)
        # Any other path is a client route of the single-page app.
        return FileResponse(index, headers=REVALIDATE, media_type="text/html")

    return router
