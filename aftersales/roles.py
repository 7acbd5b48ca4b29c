"""Staff roles from domain.md's role table."""

from enum import StrEnum


class Role(StrEnum):
    hotline = "hotline"
    cs_staff = "cs_staff"
    butler = "butler"
    dept_handler = "dept_handler"
    dept_head = "dept_head"
    cs_manager = "cs_manager"
    repair_lead = "repair_lead"
    engineering = "engineering"
    contractor = "contractor"
    deputy_chief_engineer = "deputy_chief_engineer"
    auditor = "auditor"
    finance = "finance"
    deputy_gm = "deputy_gm"
    gm = "gm"
    admin = "admin"  # P6: administers accounts; acts on no case, sees no owner data


ROLE_TITLES: dict[Role, str] = {
    Role.hotline: "热线接线专员",
    Role.cs_staff: "客户服务部人员",
    Role.butler: "贴心管家",
    Role.dept_handler: "责任部门专人",
    Role.dept_head: "责任部门负责人",
    Role.cs_manager: "客户服务部经理",
    Role.repair_lead: "维修队长",
    Role.engineering: "工程材料部",
    Role.contractor: "施工单位",
    Role.deputy_chief_engineer: "负责质量的副总工程师",
    Role.auditor: "审计核算部",
    Role.finance: "财务计统部",
    Role.deputy_gm: "副总经理",
    Role.gm: "总经理",
    Role.admin: "系统管理员",
}
