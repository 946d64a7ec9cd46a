"""Settings from the environment (STEWARD_*), with defaults for a local run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_instance_path() -> str:
    return str(Path.cwd() / "instance")


@dataclass(frozen=True)
class Settings:
    """Every setting Steward reads; each maps to STEWARD_<NAME upper-cased>."""

    instance_path: str = field(default_factory=_default_instance_path)
    database_url: str = ""
    max_import_bytes: int = 50 * 1024 * 1024
    yaml_max_alias_expansion: int = 10_000
    controls_path: str = ""
    credential_max_ttl_seconds: int = 3600
    task_credential_max_ttl_seconds: int = 900
    monitoring_window_days: int = 30
    evaluation_interval_minutes: int = 15
    evaluation_debounce_seconds: int = 2
    # A full evaluation of a large audit log splits its per-agent checks across processes, one per
    # core (0: as many as the machine gives, at most 4; 1: never split) once the log holds this many events.
    evaluation_processes: int = 0
    evaluation_split_min_events: int = 200_000
    secret_key: str = ""
    secure_cookies: int = 1
    session_hours: int = 8
    # Sign-in throttle: this many failures within the window close sign-in for that username, or
    # (the second number) for that client address, until the window has passed. 0 turns one off.
    sign_in_max_failures: int = 5
    sign_in_max_failures_per_address: int = 50
    sign_in_window_minutes: int = 15
    # How many reverse proxies in front of Steward set X-Forwarded-For (the client address the
    # throttle counts); 0 trusts no such header.
    trusted_proxies: int = 0
    actor: str = ""
    organisation: str = "Demo organisation"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "steward@localhost"
    evidence_signing_key: str | None = None

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: the setting, or a SQLite file in the instance folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.instance_path) / 'steward.db'}"

    @property
    def controls_dirs(self) -> list[Path]:
        """The built-in controls directory followed by any extra ones (os.pathsep-separated)."""
        extra = [Path(p) for p in self.controls_path.split(os.pathsep) if p.strip()]
        return [PROJECT_ROOT / "controls", *extra]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Read settings from STEWARD_* variables; keyword overrides win."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f"STEWARD_{f.name.upper()}")
            if raw is None:
                continue
            if f.type == "int":
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise SettingError(f"STEWARD_{f.name.upper()}: {raw!r} is not a whole number") from None
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), which may be fewer than the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class SettingError(ValueError):
    """A STEWARD_* variable holds a value of the wrong form."""
