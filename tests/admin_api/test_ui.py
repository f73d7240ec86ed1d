"""/admin/ serves the web UI's bundle: index.html revalidated, hashed assets immutable, client
routes answered with index.html, a clear 503 when the bundle is not built."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from dyndash_admin_api.app import create_app
from dyndash_admin_api.ui import CHECKOUT_BUNDLE
from tests.conftest import Api
from tests.utils.backends import Backend
from tests.utils.server import serve


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle shaped like Vite's output, so these tests need no Node.js."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><script type="module" src="/admin/assets/index-abc123.js"></script>'
    )
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("not served")
    return tmp_path


async def test_index_assets_and_client_routes(backend: Backend, bundle: Path) -> None:
    settings = backend.settings.model_copy(update={"admin_ui_dir": bundle})
    async with serve(create_app(settings), settings) as url, httpx.AsyncClient(base_url=url) as c:
        index = await c.get("/admin/")
        assert index.status_code == 200
        assert index.headers["cache-control"] == "no-cache"
        assert index.headers["content-type"].startswith("text/html")
        policy = index.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy

        asset = await c.get("/admin/assets/index-abc123.js")
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.text == "console.log(1)"

        for client_route in ("/admin/templates/7", "/admin/keys", "/admin/events"):
            routed = await c.get(client_route)
            assert routed.status_code == 200
            assert routed.text == index.text

        assert (await c.get("/admin/assets/missing-000.js")).status_code == 404
        escaped = await c.get("/admin/assets/..%2F..%2Fsecret.txt")
        assert escaped.status_code == 404
        assert "not served" not in escaped.text

        bare = await c.get("/admin")
        assert bare.status_code == 308
        assert bare.headers["location"] == "/admin/"
        config = (await c.get("/admin/config.json")).json()
        assert config == {"gateway_url": None, "gateway_port": settings.gateway_port}

        document = (await c.get("/openapi.json")).json()
        assert not [path for path in document["paths"] if path.startswith("/admin")]


async def test_a_missing_bundle_says_how_to_build_it(backend: Backend, tmp_path: Path) -> None:
    settings = backend.settings.model_copy(update={"admin_ui_dir": tmp_path / "absent"})
    async with serve(create_app(settings), settings) as url, httpx.AsyncClient(base_url=url) as c:
        for path in ("/admin/", "/admin/templates"):
            answer = await c.get(path)
            assert answer.status_code == 503
            assert "make sync" in answer.text
            assert "Node.js" in answer.text
        # The API itself is unaffected.
        assert (await c.get("/healthz")).status_code == 200


def test_the_default_bundle_is_the_checkouts_ui_dist() -> None:
    assert Path(__file__).resolve().parents[2] / "ui" / "dist" == CHECKOUT_BUNDLE


async def test_the_built_bundle_is_served_when_present(api: Api) -> None:
    if not (CHECKOUT_BUNDLE / "index.html").is_file():
        pytest.skip("the admin UI is not built (make sync, with Node.js)")
    async with httpx.AsyncClient(base_url=api.base_url) as c:
        index = await c.get("/admin/")
        assert index.status_code == 200
        scripts = re.findall(r'src="(/admin/assets/[^"]+\.js)"', index.text)
        assert scripts
        for script in scripts:
            answer = await c.get(script)
            assert answer.status_code == 200
            assert "immutable" in answer.headers["cache-control"]


async def test_previews_find_the_render_pool_warm_at_start_up(backend: Backend) -> None:
    """The UI's first preview does not wait for a render process to boot."""
    app = create_app(backend.settings)
    async with serve(app, backend.settings):
        assert len(app.state.render_pool.pids) == backend.settings.render_processes
