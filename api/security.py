"""Security headers on every response (P6), with the `secure` package's ASGI middleware: a maintained
library that writes the headers at `http.response.start`, so they are on every answer — pages, the JSON
API, static files, 4xx problems — whoever produced it.

It is wrapped around the *whole* Starlette stack (`build_middleware_stack`), outside Starlette's
ServerErrorMiddleware, so that a 500 carries them too (an `app.add_middleware` one sits inside it).

Three policies, chosen by path:
- everything but the workbench and the API documentation (the owner's pages, the JSON API, static files):
  no script at all, styles and images from this origin only, forms posting only here, and never in a
  frame (`frame-ancestors 'none'` and `X-Frame-Options: DENY`: the clickjacking of a case page from
  another port of the same host);
- the workbench (/app/…): the same, plus scripts from this origin only (`script-src 'self'`): its one
  small script is the static file /static/workbench.js (the owner's name from the property register, P7;
  the report's period picker). Never an inline script, so markup slipped into a page cannot run;
- /docs and /redoc (Swagger UI, ReDoc, served from local files): their scripts from this origin plus the
  one inline script Swagger UI's page carries, allowed by its hash (computed from the page itself at
  start-up, so an upgrade of FastAPI's page cannot silently break or widen it); the inline styles the
  two renderers set; never in a frame either.
All three: `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin` (a case number in a URL never
leaves in a Referer; `no-referrer` would make chromium send `Origin: null` on the pages' own forms), and no HSTS here (the TLS proxy in front of the API sets it: docs/security.md).
"""

import base64
import hashlib
import re
from collections.abc import Iterable

from fastapi import FastAPI
from secure import MULTI_OK, ContentSecurityPolicy, ReferrerPolicy, Secure, XContentTypeOptions, XFrameOptions
from secure.middleware import SecureASGIMiddleware

INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _common() -> dict:
    return dict(xfo=XFrameOptions().deny(), xcto=XContentTypeOptions().nosniff(),
                referrer=ReferrerPolicy().same_origin())


def pages_policy() -> Secure:
    csp = (ContentSecurityPolicy().default_src("'none'").style_src("'self'").img_src("'self'")
           .form_action("'self'").frame_ancestors("'none'").base_uri("'none'"))
    return Secure(csp=csp, **_common())


def workbench_policy() -> Secure:
    """The pages' policy plus the workbench's own script file from this origin; no inline script, no eval."""
    csp = (ContentSecurityPolicy().default_src("'none'").script_src("'self'").style_src("'self'")
           .img_src("'self'").form_action("'self'").frame_ancestors("'none'").base_uri("'none'"))
    return Secure(csp=csp, **_common())


def docs_policy(script_hashes: Iterable[str]) -> Secure:
    csp = (ContentSecurityPolicy().default_src("'self'")
           .script_src("'self'", *(f"'sha256-{h}'" for h in script_hashes))
           .style_src("'self'", "'unsafe-inline'").img_src("'self'", "data:").worker_src("'self'", "blob:")
           .connect_src("'self'").form_action("'self'").frame_ancestors("'none'").base_uri("'none'"))
    return Secure(csp=csp, **_common())


def inline_script_hashes(*pages: str) -> list[str]:
    """The CSP hashes (base64 of SHA-256) of the inline scripts of these HTML pages."""
    return sorted({base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
                   for page in pages for s in INLINE_SCRIPT.findall(page)})


def _without(app, policy: Secure):
    """The app, less its own values of the headers the policy replaces (all but the MULTI_OK ones).

    secure 2.0.1's middleware removes a replaced header by an index taken before its earlier removals, so
    each removal after the first drops the wrong header: a 429 lost its Retry-After (O1), an owner page its
    Cache-Control: no-store. With nothing left to remove, it only appends. A CSP (MULTI_OK) is kept: a
    route's own stricter one (an uploaded file's `sandbox`) is enforced together with the policy's."""
    replaced = frozenset(n.lower().encode("ascii") for n in policy.headers if n.lower() not in MULTI_OK)

    async def stripped(scope, receive, send) -> None:
        async def send_stripped(message) -> None:
            if message.get("type") == "http.response.start":
                message["headers"] = [(k, v) for k, v in message.get("headers", [])
                                      if k.lower() not in replaced]
            await send(message)
        await app(scope, receive, send_stripped)
    return stripped


WORKBENCH_PREFIX = "/app/"


class SecurityHeaders:
    """The docs' policy on `docs_paths`, the workbench's under /app/, the pages' on every other path."""

    def __init__(self, app, *, docs_paths: Iterable[str], script_hashes: Iterable[str]) -> None:
        self.docs_paths = frozenset(docs_paths)
        pages, workbench, docs = pages_policy(), workbench_policy(), docs_policy(script_hashes)
        self.pages = SecureASGIMiddleware(_without(app, pages), secure=pages)
        self.workbench = SecureASGIMiddleware(_without(app, workbench), secure=workbench)
        self.docs = SecureASGIMiddleware(_without(app, docs), secure=docs)

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path") or ""
        if path in self.docs_paths:
            chosen = self.docs
        elif path.startswith(WORKBENCH_PREFIX) or path == WORKBENCH_PREFIX.rstrip("/"):
            chosen = self.workbench
        else:
            chosen = self.pages
        await chosen(scope, receive, send)


def install(app: FastAPI, *, docs_paths: Iterable[str], docs_pages: Iterable[str]) -> None:
    """Wraps the app's whole middleware stack (built on its first request) in SecurityHeaders."""
    paths, hashes = list(docs_paths), inline_script_hashes(*docs_pages)
    build = app.build_middleware_stack

    def build_with_headers():
        return SecurityHeaders(build(), docs_paths=paths, script_hashes=hashes)

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
