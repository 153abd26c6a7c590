"""Tools of the Brightwater Logistics IT service desk: employees, tickets, password resets, service status.

Each `create_tools()` works on its own copy of `data/helpdesk.json`; a tool never invents a missing record.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from tools.handoff import transfer_tool
from tools.store import (
    ToolArgs,
    ToolResult,
    load_data,
    make_tool,
    normalize_name,
    prefixed_id,
)
from voicerouter.toolkit import RecordNotFound, RequestRejected, Tool

Category = Literal[
    "account", "access", "email", "network", "hardware", "software", "printer", "phone", "other"
]
Priority = Literal["low", "medium", "high", "urgent"]
System = Literal["email", "sso", "vpn", "laptop", "payroll", "erp"]
EmployeeId = Annotated[str, prefixed_id("E"), Field(pattern=r"^E\d{4}$", examples=["E1042"])]


def _ticket_digits(value: Any) -> Any:
    if isinstance(value, int):
        return str(value)
    return re.sub(r"(?i)ticket|number|no\.|[\s#]", "", value) if isinstance(value, str) else value


TicketId = Annotated[str, BeforeValidator(_ticket_digits), Field(pattern=r"^\d{4}$", examples=["4591"])]


# -- arguments ------------------------------------------------------------------------------------
class FindEmployeeArgs(ToolArgs):
    full_name: str | None = Field(
        default=None, description="Employee's first and last name, e.g. 'Jon Park'."
    )
    employee_id: EmployeeId | None = Field(default=None, description="Employee id, e.g. 'E1042'.")


class TicketIdArgs(ToolArgs):
    ticket_id: TicketId = Field(description="Four-digit ticket number, e.g. '4591'.")


class CreateTicketArgs(ToolArgs):
    employee_id: EmployeeId = Field(description="Id of the employee reporting, from find_employee.")
    summary: str = Field(min_length=3, max_length=200, description="One line describing the problem.")
    category: Category = Field(description="Kind of problem.")
    priority: Priority = Field(
        description="urgent = cannot work at all; high = badly blocked; else medium/low."
    )


class CloseTicketArgs(ToolArgs):
    ticket_id: TicketId = Field(description="Four-digit ticket number, e.g. '4591'.")
    resolution: str | None = Field(default=None, max_length=200, description="Optional: how it was solved.")


class ResetPasswordArgs(ToolArgs):
    employee_id: EmployeeId = Field(description="Id of the employee, from find_employee.")
    system: System = Field(description="Which account's password to reset.")


class ServiceStatusArgs(ToolArgs):
    service: str = Field(min_length=2, description="Service, e.g. email, vpn, wifi, printers, sso, laptops.")


# -- results --------------------------------------------------------------------------------------
class EmployeeSummary(ToolResult):
    employee_id: str
    full_name: str
    department: str
    title: str
    email: str
    extension: str
    location: str
    account_status: Literal["active", "locked", "disabled"]


class FindEmployeeResult(ToolResult):
    employees: list[EmployeeSummary] = Field(description="Matches; more than one means: ask the employee id.")
    count: int


class TicketEvent(ToolResult):
    date: str
    by: str
    note: str


class TicketView(ToolResult):
    ticket_id: str
    summary: str
    category: str
    priority: str
    status: Literal["open", "in_progress", "waiting_on_user", "resolved", "closed"]
    assignee: str | None
    employee_id: str
    employee_name: str
    created: str = Field(description="YYYY-MM-DD")
    updated: str = Field(description="YYYY-MM-DD")
    resolution: str | None
    last_update: str = Field(description="The latest note in the history.")
    history: list[TicketEvent]


class ResetResult(ToolResult):
    employee_id: str
    full_name: str
    system: str
    system_name: str
    delivery: str = Field(description="How the reset link reaches the employee.")
    expires_in_minutes: int
    account_unlocked: bool


STATUS_PHRASES = {
    "operational": "working normally",
    "degraded": "having problems",
    "outage": "down",
    "maintenance": "in planned maintenance",
}


class ServiceStatusResult(ToolResult):
    service: str
    name: str
    status: Literal["operational", "degraded", "outage", "maintenance"]
    status_phrase: str = Field(description="The status in words a caller understands.")
    note: str
    since: str = Field(description="YYYY-MM-DD")


# -- handlers -------------------------------------------------------------------------------------
class ServiceDesk:
    """The tools' behaviour over one call's private copy of the helpdesk data."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.today: str = data["today"]

    def _employee(self, employee_id: str) -> dict[str, Any]:
        for record in self.data["employees"]:
            if record["id"] == employee_id:
                return record
        raise RecordNotFound(f"no employee with id {employee_id!r}")

    def _ticket(self, ticket_id: str) -> dict[str, Any]:
        for record in self.data["tickets"]:
            if record["id"] == ticket_id:
                return record
        raise RecordNotFound(f"no ticket number {ticket_id}")

    def _view(self, ticket: dict[str, Any]) -> TicketView:
        owner = self._employee(ticket["employee_id"])
        history = [TicketEvent(**event) for event in ticket["history"]]
        return TicketView(
            ticket_id=ticket["id"],
            summary=ticket["summary"],
            category=ticket["category"],
            priority=ticket["priority"],
            status=ticket["status"],
            assignee=ticket["assignee"],
            employee_id=owner["id"],
            employee_name=f"{owner['first_name']} {owner['last_name']}",
            created=ticket["created"],
            updated=ticket["updated"],
            resolution=ticket["resolution"],
            last_update=history[-1].note if history else "",
            history=history,
        )

    def find_employee(self, args: FindEmployeeArgs) -> FindEmployeeResult:
        if args.full_name is None and args.employee_id is None:
            raise RequestRejected("full_name", "give the employee's full name or employee id")
        found = list(self.data["employees"])
        if args.employee_id is not None:
            found = [e for e in found if e["id"] == args.employee_id]
        if args.full_name is not None:
            wanted = normalize_name(args.full_name)
            found = [e for e in found if normalize_name(f"{e['first_name']} {e['last_name']}") == wanted]
        if not found:
            parts = [
                f"named {args.full_name!r}" if args.full_name else "",
                f"with id {args.employee_id}" if args.employee_id else "",
            ]
            raise RecordNotFound(f"no employee {' '.join(p for p in parts if p)}")
        return FindEmployeeResult(employees=[_summary(e) for e in found], count=len(found))

    def get_ticket(self, args: TicketIdArgs) -> TicketView:
        return self._view(self._ticket(args.ticket_id))

    def create_ticket(self, args: CreateTicketArgs) -> TicketView:
        owner = self._employee(args.employee_id)
        if owner["account_status"] == "disabled":
            raise RequestRejected(
                "employee_id", f"the account of {owner['id']} is disabled; HR must re-enable it"
            )
        assignee = self.data["category_assignees"][args.category]
        ticket = {
            "id": str(max(int(t["id"]) for t in self.data["tickets"]) + 1),
            "employee_id": owner["id"],
            "summary": args.summary,
            "category": args.category,
            "priority": args.priority,
            "status": "open",
            "assignee": assignee,
            "created": self.today,
            "updated": self.today,
            "resolution": None,
            "history": [
                {"date": self.today, "by": "service desk", "note": "Ticket opened by phone."},
                {"date": self.today, "by": "service desk", "note": f"Assigned to {assignee}."},
            ],
        }
        self.data["tickets"].append(ticket)
        return self._view(ticket)

    def close_ticket(self, args: CloseTicketArgs) -> TicketView:
        ticket = self._ticket(args.ticket_id)
        if ticket["status"] == "closed":
            raise RequestRejected("ticket_id", f"ticket {ticket['id']} is already closed")
        resolution = args.resolution or ticket["resolution"] or "Closed at the caller's request."
        ticket.update(status="closed", resolution=resolution, updated=self.today)
        ticket["history"].append({"date": self.today, "by": "service desk", "note": f"Closed: {resolution}"})
        return self._view(ticket)

    def reset_password(self, args: ResetPasswordArgs) -> ResetResult:
        owner = self._employee(args.employee_id)
        system_name = self.data["password_systems"][args.system]
        if owner["account_status"] == "disabled":
            raise RequestRejected(
                "employee_id", f"the account of {owner['id']} is disabled; HR must re-enable it"
            )
        if args.system not in owner["systems"]:
            raise RequestRejected("system", f"{owner['id']} has no {system_name} account")
        unlocked = owner["account_status"] == "locked"
        owner["account_status"] = "active"
        return ResetResult(
            employee_id=owner["id"],
            full_name=f"{owner['first_name']} {owner['last_name']}",
            system=args.system,
            system_name=system_name,
            delivery=f"a reset link by text message to the phone ending in {owner['phone'][-4:]}",
            expires_in_minutes=15,
            account_unlocked=unlocked,
        )

    def service_status(self, args: ServiceStatusArgs) -> ServiceStatusResult:
        wanted = normalize_name(args.service.replace("_", " "))
        for record in self.data["services"]:
            names = {normalize_name(record["id"].replace("_", " ")), normalize_name(record["name"])}
            names.update(normalize_name(alias) for alias in record["aliases"])
            if wanted in names:
                return ServiceStatusResult(
                    service=record["id"],
                    name=record["name"],
                    status=record["status"],
                    status_phrase=STATUS_PHRASES[record["status"]],
                    note=record["note"],
                    since=record["since"],
                )
        known = ", ".join(s["id"] for s in self.data["services"])
        raise RecordNotFound(f"no service called {args.service!r}; known services: {known}")


def _summary(record: dict[str, Any]) -> EmployeeSummary:
    return EmployeeSummary(
        employee_id=record["id"],
        full_name=f"{record['first_name']} {record['last_name']}",
        department=record["department"],
        title=record["title"],
        email=record["email"],
        extension=record["extension"],
        location=record["location"],
        account_status=record["account_status"],
    )


def create_tools() -> list[Tool]:
    """The helpdesk tools over a fresh copy of the data: one call's tickets never reach another call."""
    desk = ServiceDesk(load_data("helpdesk"))
    return [
        make_tool(
            "find_employee",
            "Look up an employee by full name or employee id.",
            FindEmployeeArgs,
            desk.find_employee,
            timeout_ms=2000,
        ),
        make_tool(
            "get_ticket",
            "Status, assignee and history of a ticket.",
            TicketIdArgs,
            desk.get_ticket,
            timeout_ms=2000,
        ),
        make_tool(
            "create_ticket",
            "Open a new ticket for an employee. Read the summary back first.",
            CreateTicketArgs,
            desk.create_ticket,
            timeout_ms=3000,
        ),
        make_tool(
            "close_ticket",
            "Close a ticket the caller says is solved. Confirm first.",
            CloseTicketArgs,
            desk.close_ticket,
            timeout_ms=2500,
        ),
        make_tool(
            "reset_password",
            "Send a password reset link to the employee's phone on file.",
            ResetPasswordArgs,
            desk.reset_password,
            timeout_ms=3000,
        ),
        make_tool(
            "service_status",
            "Current status of an IT service (email, vpn, wifi, printers...).",
            ServiceStatusArgs,
            desk.service_status,
            timeout_ms=1500,
        ),
        transfer_tool(),
    ]
