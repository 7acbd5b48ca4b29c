"""O5: the SMS providers' clients against a loopback HTTP server that checks each request as the provider does
(Aliyun's signature v1 over the sorted parameters, Tencent's TC3-HMAC-SHA256 over the canonical request), the
template and its parameters, and answers success, throttling and permanent errors; the outbox's dispatch
retries a throttled SMS later (E3) and records a permanent failure as undeliverable."""

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote

import pytest
from sqlalchemy import select

from adapters.config import Settings
from adapters.db.models import SmsMessage
from adapters.sms.providers import AliyunProvider, SmsFailed, SmsSend, TencentProvider
from adapters.sms.queue import dispatch_due, enqueue_case_sms
from adapters.temporal.sealing import Sealer
from aftersales.messages import BEIJING
from aftersales.owners import SmsKind
from tests.support.http_receiver import HTTPReceiver

SECRET = "aliyun-secret-for-tests"
TENCENT_KEY = "tencent-secret-key-for-tests"
TEMPLATES = {"code": "SMS_100000001", "received": "1400001", "work_done": "SMS_100000003", "appointment": "1400002"}
PHONE = "13912345678"


def aliyun_checker(answer_for_phone: dict[str, tuple[int, dict]]):
    """Aliyun's side: the signature recomputed from the form (RFC 3986 encoding, sorted, "POST&%2F&..." signed
    with HMAC-SHA1 and the key secret + "&"), then the call's parameters."""
    def respond(hit):
        params = dict(parse_qsl(hit.raw.decode(), keep_blank_values=True))
        signature = params.pop("Signature", "")
        enc = lambda v: quote(v, safe="~")  # noqa: E731
        canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
        expected = base64.b64encode(hmac.new(f"{SECRET}&".encode(), f"POST&%2F&{enc(canonical)}".encode(),
                                             hashlib.sha1).digest()).decode()
        if signature != expected:
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
        assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25" and params["SignName"] == "测试签名"
        assert params["TemplateCode"] == TEMPLATES["code"] and json.loads(params["TemplateParam"]) == {"code": "123456"}
        return answer_for_phone.get(params["PhoneNumbers"], (200, {"Code": "OK", "Message": "OK", "BizId": "900^0"}))
    return respond


def tencent_checker(status_code: str = "Ok", error: str | None = None):
    """Tencent's side: TC3-HMAC-SHA256 recomputed from the request's own host, content type and body."""
    def respond(hit):
        h = {k.lower(): v for k, v in hit.headers.items()}
        ts = int(h["x-tc-timestamp"])
        day = datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")
        canonical = (f"POST\n/\n\ncontent-type:{h['content-type']}\nhost:{h['host']}\n\ncontent-type;host\n"
                     + hashlib.sha256(hit.raw).hexdigest())
        to_sign = f"TC3-HMAC-SHA256\n{ts}\n{day}/sms/tc3_request\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        k = hmac.new(f"TC3{TENCENT_KEY}".encode(), day.encode(), hashlib.sha256).digest()
        k = hmac.new(k, b"sms", hashlib.sha256).digest()
        k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
        expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        if not h["authorization"].endswith(f"Signature={expected}") or "Credential=AKIDtest/" not in h["authorization"]:
            return 200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}, "RequestId": "r"}}
        assert h["x-tc-action"] == "SendSms" and h["x-tc-version"] == "2021-01-11"
        body = json.loads(hit.raw)
        assert body["SmsSdkAppId"] == "1400000001" and body["PhoneNumberSet"] == [f"+86{PHONE}"]
        if error:
            return 200, {"Response": {"Error": {"Code": error, "Message": "x"}, "RequestId": "r"}}
        return 200, {"Response": {"SendStatusSet": [{"SerialNo": "2640:1", "PhoneNumber": f"+86{PHONE}", "Fee": 1,
                                                      "Code": status_code, "Message": "m"}], "RequestId": "r"}}
    return respond


def _settings(settings: Settings, receiver: HTTPReceiver, **extra) -> Settings:
    return settings.model_copy(update={
        "sms_sign_name": "测试签名", "sms_templates": TEMPLATES, "aliyun_sms_endpoint": receiver.url("/"),
        "aliyun_access_key_id": "LTAItest", "aliyun_access_key_secret": SECRET, "tencent_sms_endpoint": receiver.url("/"),
        "tencent_secret_id": "AKIDtest", "tencent_secret_key": TENCENT_KEY, "tencent_sms_app_id": "1400000001", **extra})


def code_sms(phone: str = PHONE) -> SmsSend:
    return SmsSend(phone=phone, kind=SmsKind.code, params={"code": "123456"}, text="验证码 123456")


@pytest.mark.asyncio
async def test_aliyun_signed_request_success_throttling_and_permanent(settings) -> None:
    async with HTTPReceiver() as receiver:
        receiver.responder = aliyun_checker({
            "13900000001": (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发号码天级流控"}),
            "13900000002": (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"})})
        provider = AliyunProvider(_settings(settings, receiver))
        assert await provider.send(code_sms()) == "900^0"
        with pytest.raises(SmsFailed) as throttled:
            await provider.send(code_sms("13900000001"))
        assert not throttled.value.permanent
        with pytest.raises(SmsFailed) as illegal:
            await provider.send(code_sms("13900000002"))
        assert illegal.value.permanent
        wrong_key = AliyunProvider(_settings(settings, receiver, aliyun_access_key_secret="revoked"))
        with pytest.raises(SmsFailed) as refused:
            await wrong_key.send(code_sms())
        assert refused.value.permanent and "SignatureDoesNotMatch" in str(refused.value)
        assert PHONE not in str(refused.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("status_code, error, outcome", [
    ("Ok", None, "2640:1"),
    ("LimitExceeded.PhoneNumberThirtySecondLimit", None, "temporary"),
    ("InvalidParameterValue.IncorrectPhoneNumber", None, "permanent"),
    ("Ok", "RequestLimitExceeded", "temporary"),
    ("Ok", "FailedOperation.TemplateIncorrectOrUnapproved", "permanent"),
])
async def test_tencent_signed_request_and_answers(settings, status_code, error, outcome) -> None:
    async with HTTPReceiver() as receiver:
        receiver.responder = tencent_checker(status_code, error)
        provider = TencentProvider(_settings(settings, receiver))
        sms = SmsSend(phone=PHONE, kind=SmsKind.received, params={"case_type": "报修", "case_no": "WX-2026-000001",
                                                                  "link": "http://x/o/cases/WX-2026-000001"}, text="t")
        if outcome not in ("temporary", "permanent"):
            assert await provider.send(sms) == outcome
            [hit] = receiver.hits
            assert json.loads(hit.raw)["TemplateParamSet"] == ["报修", "WX-2026-000001", "http://x/o/cases/WX-2026-000001"]
            assert json.loads(hit.raw)["TemplateId"] == TEMPLATES["received"]
            return
        with pytest.raises(SmsFailed) as failed:
            await provider.send(sms)
        assert failed.value.permanent is (outcome == "permanent")
        bad = TencentProvider(_settings(settings, receiver, tencent_secret_key="revoked"))
        with pytest.raises(SmsFailed) as refused:
            await bad.send(sms)
        assert refused.value.permanent and "AuthFailure" in str(refused.value)


@pytest.mark.asyncio
async def test_e3_dispatch_retries_a_throttled_sms_and_records_a_permanent_one(settings, sessionmaker) -> None:
    """A case's SMS through the Tencent client: throttled → tried again later (not dropped); a template refused
    → undeliverable, recorded with its reason."""
    noon = datetime(2026, 12, 7, 12, 0, tzinfo=BEIJING).astimezone(timezone.utc)
    sealer = Sealer.from_settings(settings)
    async with HTTPReceiver() as receiver:
        s = _settings(settings, receiver, sms_provider="tencent")
        for case_no in ("WX-2026-000101", "WX-2026-000102"):
            assert await enqueue_case_sms(sessionmaker, s, sealer.seal, case_no=case_no, case_type="repair", phone=PHONE,
                                          entries=[(0, "intake", "报修受理")], now=noon) == ["queued"]
        assert await enqueue_case_sms(sessionmaker, s, sealer.seal, case_no="WX-2026-000101", case_type="repair",
                                      phone=PHONE, entries=[(0, "intake", "报修受理")], now=noon) == []   # once per entry
        receiver.responder = tencent_checker("LimitExceeded.PhoneNumberDailyLimit")
        outcome = await dispatch_due(sessionmaker, s, TencentProvider(s), sealer.unseal, now=noon)
        assert outcome == {"retry": 2}
        async with sessionmaker() as session:
            rows = (await session.scalars(select(SmsMessage).order_by(SmsMessage.id))).all()
        assert all(r.status == "queued" and r.send_at.replace(tzinfo=timezone.utc) > noon and r.attempts == 1 for r in rows)
        assert all(PHONE not in (r.last_error or "") for r in rows)
        receiver.responder = tencent_checker("InvalidParameterValue.IncorrectPhoneNumber")
        later = noon.replace(hour=noon.hour + 1)
        assert await dispatch_due(sessionmaker, s, TencentProvider(s), sealer.unseal, now=later) == {"undeliverable": 2}
        async with sessionmaker() as session:
            rows = (await session.scalars(select(SmsMessage))).all()
        assert {r.status for r in rows} == {"undeliverable"} and all("IncorrectPhoneNumber" in r.last_error for r in rows)
