"""HTTP API (FastAPI): authentication, cases and administration."""
