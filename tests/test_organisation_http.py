"""P5 over HTTP on the real app and read model (no Temporal call on these routes): the demo group (two companies,
their projects, every demo account's scope), the administrator's routes for companies and projects and their
import (all or nothing), accounts' scopes (a role's scope checked, the project's company following), and the
property register's projects belonging to the importer's company."""

import csv
import io

import httpx
import pytest

from adapters.db import org
from adapters.db.models import Staff
from adapters.db.staff import DEMO_ACCOUNTS
from api.app import create_app
from sqlalchemy import select


@pytest.fixture
async def api(settings, sessionmaker):
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)  # no Temporal call on these routes
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        async def token(username: str) -> dict[str, str]:
            r = await client.post("/auth/token", data={"username": username, "password": settings.demo_password})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}
        client.token = token  # type: ignore[attr-defined]
        yield client


def csv_file(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


async def test_P5_the_demo_group_two_companies_their_projects_and_every_accounts_scope(api, sessionmaker):
    async with sessionmaker() as session:
        assert [(c.id, c.name) for c in await org.companies(session)] == [("hj", "海景置业"), ("rq", "融侨置业")]
        assert [(p.name, p.company_id) for p in await org.projects(session)] == [("海景苑", "hj"), ("融侨城", "rq")]
        scopes = {s.username: (s.company_id, s.project)
                  for s in (await session.scalars(select(Staff))).all()}
    assert scopes["hotline"] == scopes["contractor"] == scopes["admin"] == scopes["group_gm"] == (None, None)
    assert scopes["butler"] == ("rq", "融侨城") and scopes["butler2"] == ("hj", "海景苑")
    assert scopes["cs_manager2"] == scopes["dept_head2"] == scopes["dept_handler2"] == ("hj", None)
    for username in ("cs_staff", "cs_manager", "dept_handler", "dept_head", "wy_head", "repair_lead", "engineering",
                     "finance", "auditor", "deputy_chief_engineer", "deputy_gm", "gm"):
        assert scopes[username] == ("rq", None), username
    assert {a[0] for a in DEMO_ACCOUNTS} == set(scopes)
    me = await api.get("/org/scope", headers=await api.token("butler2"))
    assert me.json() == {"scope": "project", "company_id": "hj", "project": "海景苑"}
    mine = await api.get("/org/projects", headers=await api.token("cs_manager2"))
    assert [p["name"] for p in mine.json()] == ["海景苑"]
    assert [p["name"] for p in (await api.get("/org/projects", headers=await api.token("hotline"))).json()] == [
        "海景苑", "融侨城"]


async def test_P5_P6_companies_and_projects_are_the_administrators(api):
    admin = await api.token("admin")
    for who in ("cs_manager", "gm", "group_gm"):
        r = await api.put("/admin/companies/xm", json={"name": "厦门公司"}, headers=await api.token(who))
        assert r.status_code == 403, who
    r = await api.put("/admin/companies/xm", json={"name": "厦门公司", "mailboxes": {"gm": "zongjingli@xm.example.com"}},
                      headers=admin)
    assert r.status_code == 200 and r.json()["mailboxes"] == {"gm": "zongjingli@xm.example.com"}, r.text
    assert (await api.put("/admin/companies/xm2", json={"name": "厦门公司"}, headers=admin)).status_code == 409
    assert (await api.put("/admin/companies/x m", json={"name": "x"}, headers=admin)).status_code == 422
    r = await api.put("/admin/projects", json={"name": "鼓浪苑", "company_id": "xm"}, headers=admin)
    assert r.json() == {"key": "鼓浪苑", "name": "鼓浪苑", "company_id": "xm"}
    r = await api.put("/admin/projects", json={"name": "鼓浪苑", "company_id": "nope"}, headers=admin)
    assert r.status_code == 422 and "「nope」不是登记的公司" in r.json()["detail"]

    # the import: all or nothing, every problem named by row and column
    bad = csv_file([["公司编号", "公司", "项目"], ["fz", "福州公司", "闽江苑"], ["fz", "福州另一公司", "江滨苑"],
                    ["", "无编号", "某苑"]])
    r = await api.post("/admin/organisation/import", files={"file": ("org.csv", bad, "text/csv")}, headers=admin)
    assert r.status_code == 422, r.text
    problems = {(e["row"], e["column"]) for e in r.json()["errors"]}
    assert (4, "公司编号") in problems
    names = [c["name"] for c in (await api.get("/admin/companies", headers=admin)).json()]
    assert "福州公司" not in names  # nothing imported
    good = csv_file([["公司编号", "公司", "项目"], ["fz", "福州公司", "闽江苑"], ["fz", "福州公司", "江滨苑"],
                     ["xm", "厦门公司", "鼓浪苑"]])
    r = await api.post("/admin/organisation/import", files={"file": ("org.csv", good, "text/csv")}, headers=admin)
    assert r.status_code == 200, r.text
    fz = next(c for c in r.json() if c["id"] == "fz")
    assert [p["name"] for p in fz["projects"]] == ["江滨苑", "闽江苑"]


async def test_P5_P6_an_accounts_scope_is_checked_and_its_projects_company_follows(api):
    admin = await api.token("admin")
    new = {"username": "b.new", "role": "butler", "password": "pw-2026-scope"}
    r = await api.post("/admin/accounts", json=new, headers=admin)
    assert r.status_code == 422 and "贴心管家的范围须为项目，不能是集团（P5）" in r.json()["detail"]
    r = await api.post("/admin/accounts", json={**new, "project": "不存在苑"}, headers=admin)
    assert r.status_code == 422 and "「不存在苑」不是登记的项目" in r.json()["detail"]
    r = await api.post("/admin/accounts", json={**new, "project": "融侨城", "company_id": "hj"}, headers=admin)
    assert r.status_code == 422 and "属于公司 rq" in r.json()["detail"]
    r = await api.post("/admin/accounts", json={**new, "project": "海景苑"}, headers=admin)
    assert r.status_code == 201 and (r.json()["scope"], r.json()["company_id"], r.json()["project"]) == (
        "project", "hj", "海景苑")
    # moved to the other company's project; then made cs_staff of a company (P5 for the role)
    r = await api.patch("/admin/accounts/b.new", json={"project": "融侨城"}, headers=admin)
    assert (r.json()["company_id"], r.json()["project"]) == ("rq", "融侨城")
    r = await api.patch("/admin/accounts/b.new", json={"role": "cs_staff", "company_id": "hj", "project": None},
                        headers=admin)
    assert (r.json()["scope"], r.json()["company_id"]) == ("company", "hj"), r.text
    r = await api.patch("/admin/accounts/b.new", json={"role": "finance", "company_id": None}, headers=admin)
    assert r.status_code == 422 and "财务计统部的范围须为城市公司" in r.json()["detail"]
    # the account's own robot: set, never shown nor logged
    r = await api.patch("/admin/accounts/b.new", json={"webhook_url": "https://qyapi.example.com/send?key=SECRET"},
                        headers=admin)
    assert r.json()["has_webhook"] is True and "SECRET" not in r.text
    log = await api.get("/admin/account-changes", params={"username": "b.new"}, headers=admin)
    assert "SECRET" not in log.text and "已设置" in log.text
    # nobody changes their own scope (P6)
    r = await api.patch("/admin/accounts/admin", json={"company_id": "rq"}, headers=admin)
    assert r.status_code == 403


HEAD = ["项目", "楼栋", "房号", "已售", "已入住", "业主姓名", "业主电话"]


async def test_P5_the_property_registers_projects_belong_to_companies(api, sessionmaker):
    upload = lambda who, rows: api.post("/admin/properties/import", headers=who,  # noqa: E731
                                        files={"file": ("units.csv", csv_file(rows), "text/csv")})
    manager2 = await api.token("cs_manager2")
    # 融侨城 is 融侨置业's: 海景置业's manager imports none of it (nothing imported)
    r = await upload(manager2, [HEAD, ["海景苑", "1栋", "101", "是", "是", "许先生", "13800001111"],
                                ["融侨城", "1栋", "101", "是", "是", "林先生", "13800002222"]])
    assert r.status_code == 422 and "不在您的范围内" in r.text, r.text
    # a project new to the organisation is registered to the importer's company
    r = await upload(manager2, [HEAD, ["海景苑", "1栋", "101", "是", "是", "许先生", "13800001111"],
                                ["滨海苑", "2栋", "201", "是", "否", "郑女士", "13800003333"]])
    assert r.status_code == 200, r.text
    async with sessionmaker() as session:
        assert {p.name: p.company_id for p in await org.projects(session)}["滨海苑"] == "hj"
    # the group's importer names the company of a new project (公司: its id or name)
    admin_like = await api.token("cs_manager")
    r = await upload(admin_like, [HEAD + ["公司"], ["融侨城", "3栋", "301", "是", "是", "陈先生", "13800004444", "海景置业"]])
    assert r.status_code == 422 and "属于公司 rq" in r.text
    # occupancy and units within the reader's scope: 融侨置业's staff see none of 海景置业's projects
    projects = {p["project"] for p in (await api.get("/properties", headers=await api.token("cs_staff"))).json()}
    assert "海景苑" not in projects and "滨海苑" not in projects
    r = await api.get("/properties/units", params={"project": "海景苑"}, headers=await api.token("butler"))
    assert r.status_code == 404
    r = await api.get("/properties/units", params={"project": "海景苑"}, headers=await api.token("butler2"))
    assert [u["owner_name"] for u in r.json()] == ["许先生"]


async def test_P7_an_actions_references_are_checked_against_the_lists_it_names_only(sessionmaker):
    """A classify names a category and a department: those two lists are read, not every list of the
    organisation (contractors and trades too were read for each classify, two reads of four for nothing on
    the busiest action of the day); a value not on its list is still refused naming the valid ones."""
    from fastapi import HTTPException
    from sqlalchemy import event

    from aftersales.actions import Classify
    from aftersales.actor import Actor
    from aftersales.roles import Role
    from api.org import check_action
    staff = Actor(username="cs_staff", role=Role.cs_staff, company_id="rq")
    seen: list[str] = []
    async with sessionmaker() as session:
        engine = session.bind
        listen = lambda conn, cursor, statement, *a: seen.append(statement)  # noqa: E731
        event.listen(engine.sync_engine, "before_cursor_execute", listen)
        try:
            await check_action(session, Classify(action="classify", category="漏水", department="工程部",
                                                 justified=True), staff)
            read = [s.split("FROM")[1].split()[0] for s in seen]
            seen.clear()
            with pytest.raises(HTTPException) as refused:
                await check_action(session, Classify(action="classify", category="漏水", department="财务部门X",
                                                     justified=True), staff)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", listen)
    assert sorted(read) == ["case_categories", "departments"], read
    assert refused.value.status_code == 422 and "工程部" in refused.value.detail
