"""docker-compose.yml cannot be run here (no Docker engine): it is read instead. It must parse, and the
metrics Prometheus scrapes must be where the services serve them."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_parses_and_every_app_service_has_the_app_settings():
    services = compose()["services"]
    for name in ("setup", "api", "worker"):
        env = services[name]["environment"]
        assert env["AFTERSALES_ENVIRONMENT"] == "production" and "AFTERSALES_METRICS_TOKEN" in env, name


def test_prometheus_scrapes_the_api_the_workers_and_the_temporal_server_where_they_serve():
    d = compose()
    services = d["services"]
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {}
    for job in prometheus["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            targets[job["job_name"]] = [(n, sd["port"]) for n in sd["names"]]
        for sc in job.get("static_configs", []):
            targets[job["job_name"]] = [(t.split(":")[0], int(t.split(":")[1])) for t in sc["targets"]]
    assert targets["aftersales-api"] == [("api", 8000)] and "--port" in services["api"]["command"]
    assert services["api"]["command"][services["api"]["command"].index("--port") + 1] == "8000"
    assert targets["aftersales-api-sdk"] == [("api", 9465)]
    assert services["api"]["environment"]["AFTERSALES_SDK_METRICS_ADDRESS"] == "0.0.0.0:9465"
    assert targets["aftersales-worker-sdk"] == [("worker", 9464)]
    assert services["worker"]["environment"]["AFTERSALES_SDK_METRICS_ADDRESS"] == "0.0.0.0:9464"
    assert targets["temporal-server"] == [("temporal", 8000)]
    assert services["temporal"]["environment"]["PROMETHEUS_ENDPOINT"] == "0.0.0.0:8000"
    # the API's /metrics needs the token off the machine: Prometheus sends the same secret
    api_job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "aftersales-api")
    mounted = {c["target"]: c["source"] for c in services["prometheus"]["configs"]}
    assert mounted[api_job["authorization"]["credentials_file"]] == "metrics_token"
    assert d["configs"]["metrics_token"]["content"] == "${AFTERSALES_METRICS_TOKEN}"


def test_P4_production_compose_turns_on_temporal_tls_and_authorization():
    """Anything that reaches Temporal's port could act on a case before: the server now asks every client for a
    certificate of the deployment's CA and a token its authorizer accepts; the app and the UI present both."""
    services = compose()["services"]
    temporal = services["temporal"]["environment"]
    assert temporal["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    assert temporal["TEMPORAL_TLS_FRONTEND_CERT"] and temporal["TEMPORAL_TLS_CLIENT1_CA_CERT"]
    assert temporal["TEMPORAL_AUTH_AUTHORIZER"] == "default" and temporal["TEMPORAL_AUTH_CLAIM_MAPPER"] == "default"
    assert "TEMPORAL_JWT_KEY_SOURCE1" in temporal
    for name in ("setup", "api", "worker"):
        env = services[name]["environment"]
        assert env["AFTERSALES_TEMPORAL_TLS_CERT_FILE"] and env["AFTERSALES_TEMPORAL_TLS_CA_FILE"], name
        assert env["AFTERSALES_TEMPORAL_API_KEY"] and env["AFTERSALES_ACTOR_ASSERTION_KEY"], name
        assert any("/certs/app.key" in v for v in services[name]["volumes"]), name
    assert services["temporal-ui"]["environment"]["TEMPORAL_TLS_CERT"]
    assert services["api"]["command"][:3] == ["python", "-m", "api"]    # forwarded headers: configured proxies only
    assert (REPO / "deploy/temporal/make-certs.sh").exists()


def test_D3_files_go_to_the_minio_service_the_setup_waits_for():
    services = compose()["services"]
    env = services["api"]["environment"]
    assert env["AFTERSALES_FILES_STORE"] == "s3" and "minio:9000" in env["AFTERSALES_FILES_S3_ENDPOINT_URL"]
    assert services["worker"]["environment"]["AFTERSALES_FILES_S3_BUCKET"] == env["AFTERSALES_FILES_S3_BUCKET"]
    assert services["setup"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "minio-data:/data" in services["minio"]["volumes"]
    assert all(p.startswith("127.0.0.1:") for p in services["minio"]["ports"])
