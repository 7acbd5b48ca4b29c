"""P7 on a repair: the survey's responsible party (责任方) is one of the organisation's departments, the
trades (工种) come from the trades list, the workers (维修人员) are active staff of the in-house repair team or
accounts of the contractor the survey names; anything typed instead is refused naming the field and the
valid values, people by name and title (never a bare username)."""

import pytest

from aftersales.errors import Rejection
from aftersales.org import OrgLists, Person
from aftersales.roles import Role

TEAM = [Person(username="repair_lead", display_name="孙建国", title="维修队长", role=Role.repair_lead),
        Person(username="zhou.w", display_name="周伟", title="维修工", role=Role.repair_lead)]
CT = [Person(username="contractor", display_name="吴刚", title="示范建工公司项目经理", role=Role.contractor,
             contractor_id="CT-DEMO"),
      Person(username="contractor2", display_name="郭亮", title="示范安装公司项目经理", role=Role.contractor,
             contractor_id="CT-DEMO2")]


def lists() -> OrgLists:
    return OrgLists(departments=["工程部", "物业部"], contractors={"CT-DEMO": "示范建工公司", "CT-DEMO2": "示范安装公司"},
                    trades=["水电", "防水", "泥工"], workers=TEAM + CT)


def refusal(call) -> str:
    with pytest.raises(Rejection) as e:
        call()
    assert e.value.kind == "invalid"
    return e.value.message


def test_P7_R2_the_responsible_party_is_a_department_of_the_list():
    assert lists().responsible_party("工程部") == "工程部"
    why = refusal(lambda: lists().responsible_party("维修队"))
    assert why.startswith("responsible_party：「维修队」") and "工程部、物业部" in why and "P7" in why


def test_P7_R1_trades_come_from_the_trades_list_each_one_checked():
    assert lists().trades_of(["防水", "泥工"]) == ["防水", "泥工"]
    why = refusal(lambda: lists().trades_of(["防水", "泥瓦"]))
    assert why.startswith("trades：「泥瓦」") and "水电、防水、泥工" in why
    assert "防水" not in why.split("请从列表中选择")[0].replace("trades：「泥瓦」", "")  # only the wrong one named
    # the list is the organisation's: an empty one says an administrator registers it first
    assert "管理员" in refusal(lambda: OrgLists().trades_of(["水电"]))


def test_P7_R4_R5_workers_are_the_repair_team_or_the_surveys_contractor_by_name_and_title():
    assert lists().workers_of(["repair_lead", "zhou.w"]) == ["repair_lead", "zhou.w"]
    assert lists().workers_of(["contractor", "repair_lead"], contractor_id="CT-DEMO") == ["contractor", "repair_lead"]
    # a name typed by hand (the survey's 陈师傅) and another contractor's account are refused
    why = refusal(lambda: lists().workers_of(["陈师傅"], contractor_id="CT-DEMO"))
    assert why.startswith("workers：「陈师傅」")
    assert "孙建国 · 维修队长" in why and "周伟 · 维修工" in why and "吴刚 · 示范建工公司项目经理" in why
    assert "郭亮" not in why                                 # CT-DEMO2 is not the survey's contractor (P1)
    why = refusal(lambda: lists().workers_of(["repair_lead", "contractor2"], contractor_id="CT-DEMO"))
    assert "「contractor2（郭亮 · 示范安装公司项目经理）」" in why   # a known account: its key and its name
    # no contractor on the survey: the in-house team only
    why = refusal(lambda: lists().workers_of(["contractor"]))
    assert "吴刚" in why.split("请从列表中选择")[0] and "吴刚" not in why.split("请从列表中选择")[1]


def test_P7_people_refused_are_named_by_name_and_title_with_their_key_for_the_pages():
    """A refusal lists the valid people as `username（name · title）`: the pages show the label alone, a client
    of the API reads the key it sends."""
    why = refusal(lambda: lists().workers_of(["nobody"]))
    assert "repair_lead（孙建国 · 维修队长）" in why and "zhou.w（周伟 · 维修工）" in why
