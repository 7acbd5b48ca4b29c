"""The API documentation (/docs Swagger UI, /redoc ReDoc) and the workbench's stylesheet, served from the
project's own files: Swagger UI and ReDoc from the fastapi-offline package, so the pages work on a
machine without internet (FastAPI's defaults load them from a CDN)."""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOC_ASSETS = Path(fastapi_offline.__file__).parent / "static"
STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> dict[str, str]:
    """The docs' routes; returns {path: its page}: the pages are fixed, so the security headers allow their
    inline scripts by hash (api/security.py)."""
    app.mount("/static/docs", StaticFiles(directory=DOC_ASSETS), name="doc-assets")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    oauth2_redirect = "/docs/oauth2-redirect"
    pages = {
        "/docs": get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} · 接口文档",
                                     swagger_js_url="/static/docs/swagger-ui-bundle.js",
                                     swagger_css_url="/static/docs/swagger-ui.css",
                                     swagger_favicon_url="/static/docs/favicon.png",
                                     oauth2_redirect_url=oauth2_redirect),
        oauth2_redirect: get_swagger_ui_oauth2_redirect_html(),
        "/redoc": get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} · ReDoc",
                                 redoc_js_url="/static/docs/redoc.standalone.js",
                                 redoc_favicon_url="/static/docs/favicon.png", with_google_fonts=False),
    }

    def serve(path: str) -> None:
        page = pages[path]

        @app.get(path, include_in_schema=False)
        async def doc_page() -> HTMLResponse:
            return HTMLResponse(page.body, status_code=page.status_code)

    for path in pages:
        serve(path)
    return {path: page.body.decode() for path, page in pages.items()}
