"""Reporting tables: the archive of generated evidence reports and the schedules that make them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class ReportFormat(StrEnum):
    """The file formats an evidence report is rendered in."""

    PDF = "pdf"  # the evidence report a person reads, page by page
    XLSX = "xlsx"  # the workbook an auditor filters: every finding, exception and outcome as a row


class SchedulePreset(StrEnum):
    """When a report schedule fires."""

    QUARTERLY = "quarterly"  # 1 January, April, July and October at 06:00 in the schedule's time zone
    MONTHLY = "monthly"  # the first day of every month at 06:00
    WEEKLY = "weekly"  # every Monday at 06:00
    CRON = "cron"  # a five-field cron expression (minute hour day month day-of-week)


class Report(SQLModel, table=True):
    """One generated report: the file in the archive and what it reflects."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(index=True)
    format: str
    scope: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    scope_key: str = Field(default="", index=True)
    run_id: int | None = None
    catalog_hash: str = ""
    file_name: str
    sha256: str
    size_bytes: int = 0
    made_by: str
    schedule_id: int | None = Field(default=None, index=True)
    summary: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReportSchedule(SQLModel, table=True):
    """A recurring report: when, over which scope, in which formats, how many to keep, who gets it."""

    __tablename__ = "report_schedule"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    preset: str = SchedulePreset.QUARTERLY.value
    cron: str | None = None
    timezone: str = "UTC"
    scope: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    formats: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    retention: int = 8
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The slug of an uploaded PDF template (app/reporting/custom_templates.py); None: the built-in.
    pdf_template: str | None = None
    is_paused: bool = False
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_run_at: datetime | None = None
    last_status: str | None = None
