"""Settings from environment variables (prefix AFTERSALES_) or a .env file."""

from decimal import Decimal
from datetime import time
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aftersales.roles import Role


CACHE_PER_WORKFLOW_TASK = 4  # cached cases per workflow task in flight, at least (see worker_max_cached_workflows)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_", env_file=".env", extra="ignore")

    environment: Literal["embedded", "production"] = "embedded"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="the lowest level a process logs (JSON lines on stderr); DEBUG adds a line per projection")

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "aftersales"
    # P4 in production: the API, workers and setup reach Temporal over mutual TLS and present a token Temporal's
    # authorizer checks (docker-compose.yml, docs/security.md). Unset (embedded): plain loopback.
    temporal_tls_ca_file: str | None = Field(default=None, description="CA that signed Temporal's frontend certificate")
    temporal_tls_cert_file: str | None = Field(default=None, description="this client's certificate (mTLS)")
    temporal_tls_key_file: str | None = Field(default=None, description="this client's private key (mTLS)")
    temporal_tls_server_name: str | None = Field(default=None, description="the name in Temporal's certificate")
    temporal_api_key: str | None = Field(default=None, repr=False, description=(
        "a JWT Temporal's authorizer accepts (sent as 'Authorization: Bearer'), with the permissions this "
        "process needs (default:write for the API and workers, system:admin for setup)"))
    temporal_ui_port: int = 8233
    temporal_db_file: str = "data/temporal.db"
    case_history_retention_days: int = Field(
        default=30, ge=1, description="days Temporal (and its Web UI) keeps a closed case; the register keeps it for good")

    # Read model
    database_url: str = "sqlite+aiosqlite:///data/aftersales.db"

    # API and auth
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    jwt_secret: str = Field(default="", repr=False, description=(
        "signs access tokens; required in production; embedded: read from jwt_secret_file, created at first start"))
    jwt_secret_file: str = "data/jwt-secret"
    phone_lookup_key: str = Field(default="", repr=False, description=(
        "keys the owner-phone hash the read model keeps for look-ups (HMAC); required in "
        "production; embedded: read from phone_lookup_key_file, created at first start"))
    phone_lookup_key_file: str = "data/phone-lookup-key"
    actor_assertion_key: str = Field(default="", repr=False, description=(
        "P4: the API vouches for every action it sends to a case with an HMAC keyed with this; the workers "
        "check it. Required in production (the same for the API and every worker); embedded: read from "
        "actor_assertion_key_file, created at first start"))
    actor_assertion_key_file: str = "data/actor-assertion-key"
    worker_accept_plain_payloads: bool = Field(default=False, description=(
        "P4: the worker refuses payloads that are not encrypted with the codec (sent straight to Temporal "
        "without it); true only while cases opened before the codec are still open"))
    jwt_ttl_minutes: int = 480
    seed_demo_users: bool = True
    demo_password: str = "demo-pass-2026"
    bcrypt_rounds: int = 12
    # Signing in: failed sign-ins counted per username and per client address over a sliding
    # window; at the limit /auth/token answers 429 with Retry-After until the oldest failure leaves the window.
    login_failures_per_username: int = Field(default=5, ge=1, description="failed sign-ins per username per window")
    login_failures_per_address: int = Field(default=50, ge=1, description="failed sign-ins per client address per window")
    login_failure_window_seconds: int = Field(default=900, ge=1, description="the window failed sign-ins are counted in")
    login_concurrent_checks: int = Field(
        default=2, ge=1, description="passwords checked (bcrypt) at once by one API process; more wait")
    login_max_waiting: int = Field(
        default=32, ge=0, description="sign-ins waiting for a password check; beyond it 429 with Retry-After")
    # P3: look-ups of cases by an owner's phone, per account over a sliding window (each one is in the access
    # audit, which is what is counted: the limit holds across API processes); beyond it 429 with Retry-After.
    phone_lookups_per_account: int = Field(default=30, ge=1, description="phone look-ups one account may make per window")
    phone_lookup_window_seconds: int = Field(default=600, ge=1, description="the window phone look-ups are counted in")
    # The proxies in front of the API whose X-Forwarded-For / -Proto are believed (addresses or CIDR ranges,
    # JSON list). Empty (the embedded default): none, the peer address is the client's, so nobody can dodge
    # the per-address sign-in limit with a made-up header. `python -m api` hands it to uvicorn.
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses of the reverse proxies "
                                       "whose forwarded headers are trusted (none by default)")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="request bodies over this get 413")
    update_timeout_seconds: float = Field(
        default=30.0, gt=0, description="how long the API waits for a worker to answer an action before 503")
    read_timeout_seconds: float = Field(
        default=10.0, gt=0, description="how long GET /cases/{no} waits for the case's workflow to answer before 503")
    max_inflight_updates: int = Field(
        default=64, ge=1, description="Updates (intakes, actions) one API process has in flight at most; "
                                      "beyond it the API answers 503 with Retry-After at once (load shedding)")
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After of a 503 for a busy system")
    case_number_void_after_seconds: float = Field(
        default=45.0, gt=0, description="a number claimed this long ago whose case Temporal does not hold is "
                                        "marked void in the register (the API died between the two)")
    case_number_sweep_seconds: float = Field(default=10.0, gt=0, description="how often the worker looks for them")

    # Encryption of what Temporal stores (P4): key id -> base64 of a 32-byte AES-256-GCM key; the encode
    # key encrypts, every key decrypts. Required in production; embedded: codec_key_file, created at first start.
    codec_keys: dict[str, str] = Field(default_factory=dict, repr=False)
    codec_encode_key_id: str | None = None
    codec_key_file: str = "data/codec-keys.json"
    # The worker: cases kept in memory between their workflow tasks (the sticky cache; a case
    # not in it is replayed from its history when it next wakes), and tasks run at once.
    # A cache too small for the tasks in flight stalls the worker instead of just replaying more: Core evicts
    # only a case with no work outstanding (a running local activity holds its task open), so new cases' tasks
    # wait in "Buffering WFT because cache is full" (temporalio/temporal#7482). Measured 2026-12-03 (timer_bench,
    # 1,500 complaints opened 50 at once, 100 tasks): cache 100 opened 4.9 cases/s and left 713 of 1,500
    # unescalated; 200 opened 9.1/s, intakes waiting 20 s (median of the slow ones); 400 opened 21.6/s and 600
    # 25.5/s, escalations on time at the same CPU (61 ms each). Hence at least CACHE_PER_WORKFLOW_TASK per task.
    worker_max_cached_workflows: int = Field(
        default=600, ge=0, description="open cases a worker keeps in memory (RSS grows with it; the rest replay); "
        "0 keeps none (every task replays), else at least 4 × worker_max_concurrent_workflow_tasks")
    worker_max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    # GET /health (a dead worker must not look healthy): a worker tells Temporal it is alive this often (the
    # SDK's worker heartbeat, 1-60 s) and /health counts it alive while its last one is this recent. Temporal's
    # poller list alone kept a worker killed with -9 listed for ~5 minutes.
    worker_heartbeat_seconds: float = Field(default=5.0, ge=1, le=60, description="how often a worker reports to Temporal")
    worker_alive_seconds: float = Field(
        default=20.0, gt=0, description="GET /health counts a worker alive while its last report is this recent")
    worker_max_concurrent_activities: int = Field(default=100, ge=1)
    # Temporal's default build id hashes the bytecode of every loaded module at each start (0.37 s of CPU,
    # a third of a worker's start); the release names its build instead. Deployments set it to the image's
    # tag so the Web UI shows which build ran each task; it changes nothing a case does.
    worker_build_id: str = Field(
        default="aftersales-1.0.0", min_length=1, max_length=255,
        description="the build id a worker reports to Temporal (set it to the release or image tag)")
    # temporalio's workflow sandbox re-imports the workflow modules per case and runs every payload's
    # serialization context through it: measured a third of the worker's Python CPU per action
    # and 334 → 182 KiB per cached case. Off in production; the workflow tests run in it (tests/workflows),
    # so a non-deterministic call in workflow code still fails CI, and recorded histories replay in both.
    worker_sandbox: bool = Field(default=False, description="run workflows in temporalio's sandbox")
    local_db_steps: bool = Field(
        default=True, description="cases opened from now on read and write the read model in local activities "
                                  "(one workflow task per action); the time-skipping test server needs false")
    # Metrics: the API's own at GET /metrics (this machine, or Prometheus with this token);
    # the Temporal SDK's (worker and client) served by the SDK's runtime on this address, per process.
    metrics_token: str | None = Field(default=None, description="bearer token Prometheus sends to GET /metrics")
    sdk_metrics_address: str | None = Field(
        default=None, description="host:port where this process serves the Temporal SDK's Prometheus metrics")
    # `make run` starts a worker and an API, one SDK metrics address each (loopback; empty: none served).
    worker_sdk_metrics_address: str = Field(
        default="127.0.0.1:9464", description="make run: where the worker serves the Temporal SDK's metrics ('' for none)")
    api_sdk_metrics_address: str = Field(
        default="127.0.0.1:9465", description="make run: where the API serves the Temporal SDK's metrics ('' for none)")
    codec_ui_origin: str = Field(
        default="http://127.0.0.1:8233", description="the Temporal Web UI's origin: the only one CORS lets call /codec")
    # Production: /codec also accepts the Web UI's sign-in token (its OIDC identity provider's access token)
    codec_oidc_jwks_url: str | None = None
    codec_oidc_issuer: str | None = None
    codec_oidc_audience: str | None = None

    # Time (T1–T3) and demo time
    timezone: str = "Asia/Shanghai"
    work_day_start: time = time(9, 0)
    work_day_end: time = time(18, 0)
    demo_seconds_per_working_day: int | None = Field(
        default=None, gt=0,
        description="Demo only: one working day lasts this many seconds (off when unset; any positive number).",
    )

    # Escalation (E1): the levels above the handler, in order.
    escalation_ladder: list[Role] = [Role.dept_head, Role.cs_manager, Role.deputy_gm, Role.gm]

    # Notifications (E3)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "aftersales@example.com"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    # the name this host gives in its EHLO; empty: its fully qualified name, looked up once per process (not a
    # DNS lookup per connection, as the SMTP client would otherwise do)
    smtp_local_hostname: str = ""
    webhook_urls: dict[str, list[str]] = Field(
        default_factory=dict, description="role id -> webhook URLs (JSON POST, e.g. WeCom robot)"
    )
    webhook_timeout_seconds: float = 10.0
    notification_give_up_hours: float = Field(
        default=24.0, gt=0, description="E3: a notification failing temporarily is retried this long, then recorded undeliverable")
    time_tolerance_minutes: float = Field(
        default=10.0, ge=0, le=1440, description="R1: how far an appointment may lie in the past, or an arrival "
        "in the future, when it is recorded (phones and the server do not share a clock)")
    history_event_budget: int = Field(
        default=2000, ge=50, description="a case's run continues as new before its history reaches this many events")
    history_bytes_budget: int = Field(
        default=2_000_000, ge=100_000, description="... or this many bytes")
    digest_window_working_hours: float = Field(
        default=1.0, gt=0, description="E4: reminders falling due for one person within this window go out as one digest")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="where staff open the product: messages link to <base>/app/cases/<no> (E4)")

    # Photos and documents (D1–D4): stored outside Temporal (claim check), encrypted with the codec's keys.
    files_store: Literal["local", "s3"] = Field(
        default="local", description="where files' bytes go: local (files_dir, the embedded default) or s3 (any "
        "S3-compatible store: MinIO, Aliyun OSS, Tencent COS, AWS S3)")
    files_dir: str = Field(default="data/files", description="the local store's folder")
    files_s3_bucket: str = ""
    files_s3_endpoint_url: str | None = Field(default=None, description="e.g. http://minio:9000; none: AWS S3")
    files_s3_region: str = "us-east-1"
    files_s3_access_key_id: str = Field(default="", repr=False)
    files_s3_secret_access_key: str = Field(default="", repr=False)
    files_s3_prefix: str = Field(default="files/", description="the keys' prefix in the bucket")
    files_link_minutes: float = Field(default=5.0, gt=0, le=60, description="how long a signed file link works (D3)")
    files_orphan_grace_hours: float = Field(
        default=24.0, gt=0, description="a stored file no case references is removed after this long (the upload "
        "that stored it may still be on its way to the case)")
    files_orphan_sweep_minutes: float = Field(default=60.0, gt=0, description="how often the orphan sweep runs")
    # D2: on by default, as the rule book states them; off during a roll-out where staff cannot take photos yet.
    files_require_after_work_photo: bool = Field(
        default=True, description="D2: complete_work needs a photo of the step after_work (cases of rules 2 on)")
    files_require_signed_cost_statement: bool = Field(
        default=True, description="D2: a type-A deduction needs a signed file of the step cost_statement")
    # The owner's own channel (O1, O5): pages under /o/, sign-in by SMS code, SMS by a provider
    owner_session_minutes: int = Field(default=60, ge=5, le=1440, description="O1: an owner's session lasts this long")
    owner_codes_per_address_per_hour: int = Field(
        default=30, ge=1, description="O1: sign-in codes one client address may ask for per hour (429 beyond)")
    owner_code_failures_per_address: int = Field(
        default=30, ge=1, description="O1: wrong codes one client address may send per hour (429 beyond)")
    sms_provider: Literal["outbox", "aliyun", "tencent"] = Field(
        default="outbox", description="O5: outbox (embedded: written to the read model and sms_outbox_file, shown "
                                      "to cs_manager as 短信记录), aliyun (阿里云短信) or tencent (腾讯云短信)")
    sms_outbox_file: str = Field(default="data/sms-outbox.log", description="the outbox provider's log a developer reads")
    sms_sign_name: str = Field(default="售后服务", description="the SMS signature (签名) approved by the provider")
    sms_templates: dict[str, str] = Field(
        default_factory=dict, description="SMS kind (code, received, appointment, proposed, extension, work_done, survey, "
                                          "closed) -> the "
                                          "provider's approved template code (Aliyun SMS_123456789; Tencent 1234567)")
    sms_timeout_seconds: float = Field(default=10.0, gt=0)
    sms_dispatch_seconds: float = Field(default=15.0, gt=0, description="how often the worker sends the SMS due")
    sms_give_up_hours: float = Field(
        default=24.0, gt=0, description="E3: an SMS failing temporarily is retried this long, then undeliverable")
    sms_clock_offset_seconds: float = Field(
        default=0.0, ge=-7 * 86400, le=7 * 86400,
        description="drills and tests only (0 in production): the SMS clock, by which O5 holds an owner's SMS in the quiet "
                    "hours 21:00–08:00 and counts a case's day, runs this far ahead of (negative: behind) the system clock, "
                    "so a day's SMS can be followed inside or outside the quiet hours whatever the hour")
    aliyun_sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    aliyun_access_key_id: str = Field(default="", repr=False)
    aliyun_access_key_secret: str = Field(default="", repr=False)
    tencent_sms_endpoint: str = "https://sms.tencentcloudapi.com/"
    tencent_sms_region: str = "ap-guangzhou"
    tencent_sms_app_id: str = Field(default="", description="Tencent Cloud SMS SdkAppId (1400...)")
    tencent_secret_id: str = Field(default="", repr=False)
    tencent_secret_key: str = Field(default="", repr=False)

    # Early warning (C11)
    early_warning_threshold: int = 3
    early_warning_window_days: int = 7

    # Revisit campaigns (V2): the smallest share an annual sample may take (10%; the Qingdao standard asks
    # for 30% of sold homes: set 0.30 there).
    revisit_min_share: Decimal = Field(default=Decimal("0.10"), ge=Decimal("0.10"), le=1)


    @field_validator("codec_encode_key_id", "codec_oidc_jwks_url", "files_s3_endpoint_url", "codec_oidc_issuer",
                     "codec_oidc_audience", "temporal_tls_ca_file", "temporal_tls_cert_file", "temporal_tls_key_file",
                     "temporal_tls_server_name", "temporal_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return value or None  # docker compose passes an unset ${VAR:-} as ""

    @model_validator(mode="after")
    def _production_is_safe(self) -> "Settings":
        cache, tasks = self.worker_max_cached_workflows, self.worker_max_concurrent_workflow_tasks
        if 0 < cache < CACHE_PER_WORKFLOW_TASK * tasks:
            raise ValueError(
                f"worker_max_cached_workflows ({cache}) must be 0 or at least {CACHE_PER_WORKFLOW_TASK} × "
                f"worker_max_concurrent_workflow_tasks ({tasks}) = {CACHE_PER_WORKFLOW_TASK * tasks}: a smaller cache "
                "stalls the worker (cases with a local activity running cannot be evicted); lower the tasks instead")
        if self.case_number_void_after_seconds <= self.update_timeout_seconds:
            raise ValueError("case_number_void_after_seconds must exceed update_timeout_seconds: an intake still "
                             "waiting for Temporal must not see its number voided")
        if self.files_store == "s3" and not self.files_s3_bucket:
            raise ValueError("files_store=s3 needs AFTERSALES_FILES_S3_BUCKET (and its endpoint and credentials)")
        if self.environment == "production":
            if len(self.jwt_secret) < 32:
                raise ValueError("production needs AFTERSALES_JWT_SECRET: a random secret of 32+ characters")
            if len(self.phone_lookup_key) < 32:
                raise ValueError("production needs AFTERSALES_PHONE_LOOKUP_KEY: a random secret of 32+ characters")
            if len(self.actor_assertion_key) < 32:
                raise ValueError("production needs AFTERSALES_ACTOR_ASSERTION_KEY: a random secret of 32+ characters, "
                                 "the same for the API and the workers (P4)")
            if self.demo_seconds_per_working_day:
                raise ValueError("demo time (AFTERSALES_DEMO_SECONDS_PER_WORKING_DAY) is never for production")
        elif not self.jwt_secret:  # embedded: random per install
            import secrets

            from adapters.secret_files import read_or_create

            self.jwt_secret = read_or_create(self.jwt_secret_file, lambda: secrets.token_urlsafe(48))
        if not self.actor_assertion_key and self.environment != "production":
            import secrets

            from adapters.secret_files import read_or_create

            self.actor_assertion_key = read_or_create(self.actor_assertion_key_file, lambda: secrets.token_urlsafe(48))
        if not self.phone_lookup_key and self.environment != "production":
            import secrets

            from adapters.secret_files import read_or_create

            self.phone_lookup_key = read_or_create(self.phone_lookup_key_file, lambda: secrets.token_urlsafe(48))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
