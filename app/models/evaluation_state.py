"""Evaluation state: what the latest run was made on, for a re-evaluation of a few agents to build on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class EvaluationBasis(SQLModel, table=True):
    """What the latest evaluation run checked: its catalog, settings, time and audit log (one row)."""

    __tablename__ = "evaluation_basis"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int
    evaluated_at: datetime
    catalog_hash: str
    settings: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    event_count: int = 0
    event_max_id: int | None = None
    # Whether every outcome of the per-agent checks was filed under its agent (agent_check_share);
    # not when an agent id contains "::", which makes the agent of an access subject ambiguous.
    is_partitioned: bool = False


class AgentCheckShare(SQLModel, table=True):
    """One agent's share of the latest run's per-agent check statistics: {check: [examined, failed]}."""

    __tablename__ = "agent_check_share"

    agent_id: str = Field(primary_key=True)
    stats: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
