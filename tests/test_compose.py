"""docker-compose.yml cannot be run here (no Docker engine): it is read instead. It must parse, and the
metrics Prometheus scrapes must be where the services serve them."""

from pathlib import Path

import pytest
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


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
    nested defaults, $$ for a dollar."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"{": 1, "}": -1}.get(value[j], 0) if value[j - 1] == "$" or value[j] == "}" else 0
                j += 1
            inner = value[i + 2:j - 1]
            name = inner.split(":", 1)[0].split("-", 1)[0].split("?", 1)[0]
            rest = inner[len(name):]
            have = env.get(name)
            if rest.startswith((":?", "?")):
                if have is None or (rest.startswith(":") and have == ""):
                    raise MissingVariable(name)
                out.append(have)
            elif rest.startswith((":-", "-")):
                default = rest[2:] if rest.startswith(":") else rest[1:]
                out.append(have if have is not None and (have or not rest.startswith(":")) else interpolate(default, env))
            else:
                out.append(have or "")
            i = j
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def test_interpolate_reads_compose_as_compose_does():
    env = {"A": "a", "E": ""}
    assert interpolate("${A}-${B:-b}-${E:-e}-${E-x}-$${A}", env) == "a-b-e--${A}"
    assert interpolate("${B:-${A:-z}}", env) == "a" and interpolate("${B:-${C:-z}}", env) == "z"
    with pytest.raises(MissingVariable):
        interpolate("${B:-${C:?set C}}", env)


S3_CREDENTIALS = ("AFTERSALES_FILES_S3_ACCESS_KEY_ID", "AFTERSALES_FILES_S3_SECRET_ACCESS_KEY")


def test_D3_the_file_store_settings_compose_passes_are_the_settings_the_app_reads():
    """Every AFTERSALES_FILES_* the services get is a field of Settings (a misspelt name would be ignored and the
    app would write files to its container's disk), and every setting the S3 store is built from is passed."""
    from adapters.config import Settings
    fields = set(Settings.model_fields)
    services = compose()["services"]
    for name in ("setup", "api", "worker"):
        env = services[name]["environment"]
        passed = {k.removeprefix("AFTERSALES_").lower() for k in env if k.startswith("AFTERSALES_FILES_")}
        assert passed <= fields, (name, passed - fields)
        assert {"files_store", "files_s3_bucket", "files_s3_endpoint_url", "files_s3_region",
                "files_s3_access_key_id", "files_s3_secret_access_key"} <= passed, name


def test_D3_the_file_stores_credentials_come_from_the_environment_never_a_literal():
    """The app's S3 keys and MinIO's root account are the operator's variables: no default written in the file,
    compose refuses to start without them, and the app's keys are MinIO's (or the operator's own for another
    store), so the app can sign in to the store compose starts."""
    services = compose()["services"]
    minio = services["minio"]["environment"]
    secrets = {"MINIO_ROOT_USER": "operator-user", "MINIO_ROOT_PASSWORD": "operator-password-123"}
    for name in ("setup", "api", "worker"):
        env = services[name]["environment"]
        for key, secret in zip(S3_CREDENTIALS, secrets):
            assert env[key].startswith("${"), (name, key, env[key])
            with pytest.raises(MissingVariable):   # without the operator's variable compose stops: no literal fallback
                interpolate(env[key], {k: v for k, v in secrets.items() if k != secret})
        assert interpolate(env["AFTERSALES_FILES_S3_ACCESS_KEY_ID"], secrets) == \
            interpolate(minio["MINIO_ROOT_USER"], secrets) == "operator-user"
        assert interpolate(env["AFTERSALES_FILES_S3_SECRET_ACCESS_KEY"], secrets) == \
            interpolate(minio["MINIO_ROOT_PASSWORD"], secrets) == "operator-password-123"
        own = {**secrets, "AFTERSALES_FILES_S3_ACCESS_KEY_ID": "oss-key", "AFTERSALES_FILES_S3_SECRET_ACCESS_KEY": "oss-secret"}
        assert [interpolate(env[k], own) for k in S3_CREDENTIALS] == ["oss-key", "oss-secret"]   # Aliyun OSS, COS …
    for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        with pytest.raises(MissingVariable):
            interpolate(minio[key], {k: v for k, v in secrets.items() if k != key})


def test_D3_the_setup_creates_the_bucket_before_the_api_and_workers_start():
    """The bucket is the app's to create (adapters/bootstrap.py, tested against an S3 server in
    tests/test_file_stores.py): the setup service runs it once MinIO is healthy, and the API and workers start
    only after the setup completed."""
    services = compose()["services"]
    assert "adapters.bootstrap" in " ".join(services["setup"]["command"])
    assert services["setup"]["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["setup"]["condition"] == "service_completed_successfully"


def test_P5_a_group_runs_replicas_of_the_api_behind_one_proxy_and_of_the_worker():
    """A group's load (docs/sizing.md) takes more than one API and one worker: both are replicated by default, the
    API's replicas behind nginx, which is the only one published and the only proxy the API believes."""
    d = compose()
    services = d["services"]
    for name in ("api", "worker"):
        replicas = services[name]["deploy"]["replicas"]
        assert replicas.startswith("${") and int(replicas.rsplit(":-", 1)[1].rstrip("}")) >= 2, (name, replicas)
    assert "ports" not in services["api"]            # a fixed host port would forbid a second replica
    proxy = services["api-proxy"]
    assert proxy["image"].startswith("nginx") and any(p.endswith(":8000") for p in proxy["ports"])
    address = proxy["networks"]["default"]["ipv4_address"]
    subnet = d["networks"]["default"]["ipam"]["config"][0]["subnet"]
    import ipaddress
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    assert f'["{address}"]' in services["api"]["environment"]["AFTERSALES_TRUSTED_PROXIES"]
    conf_path = next(v.split(":")[0] for v in proxy["volumes"] if v.endswith("default.conf:ro"))
    conf = (REPO / conf_path).read_text()
    # the service name resolved again and again (every replica, also after a --scale), the client's address
    # replacing any X-Forwarded-For it sent
    assert "resolver 127.0.0.11" in conf and "set $api http://api:8000;" in conf and "proxy_pass $api;" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf


def test_P5_temporal_and_the_read_model_on_postgresql_and_the_history_shards_chosen_before_the_first_start():
    services = compose()["services"]
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    assert services["temporal-db"]["image"].startswith("postgres")
    assert services["app-db"]["image"].startswith("postgres")
    for name in ("api", "worker", "setup"):
        assert services[name]["environment"]["AFTERSALES_DATABASE_URL"].startswith("postgresql+asyncpg://"), name
    shards = services["temporal"]["environment"]["NUM_HISTORY_SHARDS"]
    assert shards == "${TEMPORAL_NUM_HISTORY_SHARDS:-64}"   # docs/sizing.md argues 64 for up to a million a year
    assert "prometheus" in services
