"""SMS providers behind one interface: `send(SmsSend) -> reference`, raising `SmsFailed` (temporary: retried)
or `SmsFailed(permanent=True)` (a number that is no number, a template or signature refused, a revoked key:
retrying cannot help, E3).

- `OutboxProvider` (the embedded default): appends each SMS to a log file a developer reads
  (`sms_outbox_file`, data/sms-outbox.log; the number masked), next to its row in `sms_messages` that
  cs_manager sees as 短信记录.
- `AliyunProvider`: Dysmsapi SendSms (version 2017-05-25), an RPC call signed with HMAC-SHA1 (signature v1:
  the sorted, percent-encoded parameters, key = AccessKeySecret + "&"), template parameters as JSON by name.
- `TencentProvider`: SMS SendSms (version 2021-01-11), signed with TC3-HMAC-SHA256 (the canonical request over
  content-type and host, the key derived from the date, the service and "tc3_request"), template parameters
  by position.

Both are written against the providers' published HTTP APIs with httpx (no SDK: one signed POST each), and
tested against a loopback server that checks the signature as the provider does (tests/test_sms_providers.py).
Template codes and the signature are configuration (`sms_templates`, `sms_sign_name`)."""

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx

from adapters.config import Settings
from aftersales.messages import BEIJING
from aftersales.owners import SmsKind
from aftersales.privacy import mask_phone

# Tencent's templates take their parameters by position: each kind's order ({1}, {2}, ... in the template)
PARAM_ORDER: dict[SmsKind, tuple[str, ...]] = {
    SmsKind.code: ("code",),
    SmsKind.received: ("case_type", "case_no", "link"),
    SmsKind.appointment: ("case_no", "time", "link"),
    SmsKind.work_done: ("case_no", "link"),
    SmsKind.survey: ("case_no", "link"),
    SmsKind.closed: ("case_no", "link"),
    SmsKind.proposed: ("case_no", "time", "link"),
    SmsKind.extension: ("case_no", "time", "link"),
    SmsKind.campaign_survey: ("project", "case_no", "link"),
}


@dataclass(frozen=True)
class SmsSend:
    phone: str                      # the full number, only ever in memory on its way to the provider
    kind: SmsKind
    params: dict[str, str]
    text: str                       # as the owner reads it (the outbox writes it; providers send the template)
    ref: str = field(default_factory=lambda: uuid.uuid4().hex)   # our id for it (OutId / SessionContext)


class SmsFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsProvider(Protocol):
    name: str

    async def send(self, sms: SmsSend) -> str: ...


def _template(settings: Settings, kind: SmsKind) -> str:
    code = settings.sms_templates.get(kind.value)
    if not code:
        raise SmsFailed(f"no template configured for SMS kind {kind.value} (sms_templates)", permanent=True)
    return code


class OutboxProvider:
    """The embedded default: nothing leaves the machine; each SMS is a line of the outbox file."""
    name = "outbox"

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    async def send(self, sms: SmsSend) -> str:
        line = f"{datetime.now(BEIJING):%Y-%m-%d %H:%M:%S}\t{mask_phone(sms.phone)}\t{sms.kind.value}\t{sms.text}\n"

        def write() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)

        await asyncio.to_thread(write)
        return f"outbox:{sms.ref}"


# ---- Aliyun ------------------------------------------------------------------------------------------
ALIYUN_TEMPORARY = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "isp.SYSTEM_ERROR",
                              "ServiceUnavailable", "InternalError"})


def aliyun_encode(value: str) -> str:
    """RFC 3986 percent-encoding as Aliyun's signature v1 asks: unreserved characters (A-Z a-z 0-9 - _ . ~) kept,
    everything else %XX of its UTF-8 bytes (space %20, * %2A)."""
    return quote(value, safe="-_.~")


def aliyun_signature(params: dict[str, str], secret: str, method: str = "POST") -> str:
    canonical = "&".join(f"{aliyun_encode(k)}={aliyun_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{aliyun_encode('/')}&{aliyun_encode(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


class AliyunProvider:
    name = "aliyun"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def request(self, sms: SmsSend, now: datetime | None = None) -> dict[str, str]:
        """The signed form parameters of SendSms."""
        s = self.settings
        now = now or datetime.now(timezone.utc)
        params = {
            "AccessKeyId": s.aliyun_access_key_id, "Action": "SendSms", "Format": "JSON", "RegionId": "cn-hangzhou",
            "SignatureMethod": "HMAC-SHA1", "SignatureNonce": uuid.uuid4().hex, "SignatureVersion": "1.0",
            "Timestamp": now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25",
            "PhoneNumbers": sms.phone, "SignName": s.sms_sign_name, "TemplateCode": _template(s, sms.kind),
            "TemplateParam": json.dumps(sms.params, ensure_ascii=False, separators=(",", ":")), "OutId": sms.ref,
        }
        params["Signature"] = aliyun_signature(params, s.aliyun_access_key_secret)
        return params

    async def send(self, sms: SmsSend) -> str:
        try:
            async with httpx.AsyncClient(timeout=self.settings.sms_timeout_seconds) as client:
                response = await client.post(self.settings.aliyun_sms_endpoint, data=self.request(sms))
        except httpx.HTTPError as e:
            raise SmsFailed(f"aliyun: {type(e).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        code = str(answer.get("Code", "")) if isinstance(answer, dict) else ""
        if response.is_success and code == "OK":
            return str(answer.get("BizId") or sms.ref)
        message = f"aliyun answered HTTP {response.status_code} {code}: {str(answer.get('Message', ''))[:200]}"
        raise SmsFailed(message, permanent=response.status_code < 500 and code not in ALIYUN_TEMPORARY)


# ---- Tencent Cloud -----------------------------------------------------------------------------------
TENCENT_SERVICE = "sms"
TENCENT_VERSION = "2021-01-11"
TENCENT_CONTENT_TYPE = "application/json; charset=utf-8"
TENCENT_TEMPORARY_PREFIXES = ("LimitExceeded", "RequestLimitExceeded", "InternalError", "FailedOperation.FailResolvePacket")


def _sha256(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tencent_authorization(*, secret_id: str, secret_key: str, host: str, payload: str, timestamp: int) -> str:
    """TC3-HMAC-SHA256 over the canonical request (POST /, content-type and host signed)."""
    day = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
    canonical = (f"POST\n/\n\ncontent-type:{TENCENT_CONTENT_TYPE}\nhost:{host}\n\ncontent-type;host\n"
                 f"{_sha256(payload)}")
    scope = f"{day}/{TENCENT_SERVICE}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256(canonical)}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), TENCENT_SERVICE), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"


def _tencent_temporary(code: str) -> bool:
    return code.startswith(TENCENT_TEMPORARY_PREFIXES)


class TencentProvider:
    name = "tencent"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def request(self, sms: SmsSend, now: datetime | None = None) -> tuple[dict[str, str], str]:
        """(headers, JSON body) of SendSms, signed."""
        s = self.settings
        timestamp = int((now or datetime.now(timezone.utc)).timestamp())
        body = {"PhoneNumberSet": [f"+86{sms.phone}"], "SmsSdkAppId": s.tencent_sms_app_id, "SignName": s.sms_sign_name,
                "TemplateId": _template(s, sms.kind),
                "TemplateParamSet": [sms.params.get(k, "") for k in PARAM_ORDER[sms.kind]], "SessionContext": sms.ref}
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        host = urlsplit(s.tencent_sms_endpoint).netloc
        headers = {"Content-Type": TENCENT_CONTENT_TYPE, "Host": host, "X-TC-Action": "SendSms",
                   "X-TC-Version": TENCENT_VERSION, "X-TC-Timestamp": str(timestamp), "X-TC-Region": s.tencent_sms_region,
                   "Authorization": tencent_authorization(secret_id=s.tencent_secret_id, secret_key=s.tencent_secret_key,
                                                          host=host, payload=payload, timestamp=timestamp)}
        return headers, payload

    async def send(self, sms: SmsSend) -> str:
        headers, payload = self.request(sms)
        try:
            async with httpx.AsyncClient(timeout=self.settings.sms_timeout_seconds) as client:
                response = await client.post(self.settings.tencent_sms_endpoint, content=payload.encode(),
                                             headers=headers)
        except httpx.HTTPError as e:
            raise SmsFailed(f"tencent: {type(e).__name__}") from None
        if response.status_code >= 500:
            raise SmsFailed(f"tencent answered HTTP {response.status_code}")
        try:
            answer = response.json().get("Response", {})
        except (ValueError, AttributeError):
            raise SmsFailed(f"tencent answered HTTP {response.status_code} without JSON") from None
        if error := answer.get("Error"):
            code = str(error.get("Code", ""))
            raise SmsFailed(f"tencent: {code}: {str(error.get('Message', ''))[:200]}", permanent=not _tencent_temporary(code))
        [status] = answer.get("SendStatusSet") or [{}]
        code = str(status.get("Code", ""))
        if code == "Ok":
            return str(status.get("SerialNo") or sms.ref)
        raise SmsFailed(f"tencent: {code}: {str(status.get('Message', ''))[:200]}", permanent=not _tencent_temporary(code))


def provider_from_settings(settings: Settings) -> SmsProvider:
    if settings.sms_provider == "aliyun":
        return AliyunProvider(settings)
    if settings.sms_provider == "tencent":
        return TencentProvider(settings)
    return OutboxProvider(settings.sms_outbox_file)
