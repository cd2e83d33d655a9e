"""What a training run decides when it starts, kept apart from the settings it was given.

The settings (config.py) are resolved once from defaults, a recipe, a file and flags, and then
frozen. Four things are not known until a run starts, and are decided by the code that knows
them: the run's folder name (train/session.py), whether the --data default trains on the
data's classes and which classes there are (data/classes.py, at set-up), and the length and
intervals of a --minutes run (train/plan.py, from the speed it measures). Each is recorded here
instead of being written back into the settings, and config.json holds both:

    {"run": {...}, "data": {...}, ..., "decided": {"run_name": "00003-photos", "conditional": true,
                                                   "class_names": ["rain", "snow"], "kimg": 41.2, ...}}

``Decided.apply(settings)`` gives the run's *effective* configuration, a frozen copy with the
decided values in their fields, which is what the networks, the loop and every later command
read (``RunFolder.load_config`` applies the record; a config.json without one, from an older
snowgan, holds those values in its sections already and loads as it is).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from .config import Config


@dataclass(frozen=True)
class Decided:
    """Start-up decisions of one run; None (or empty) where nothing was decided, so the setting holds.

    run_name: the run folder's name, e.g. "00003-photos".
    conditional: True when the --data default chose to train on the data's classes.
    class_names: the classes of a conditional run, in label order (from the data).
    minutes: the length a --data run got when none was given (DEFAULT_MINUTES).
    kimg: a --minutes run's length in thousands of images, fixed from the measured speed.
    intervals: the stats/sample/checkpoint intervals that follow the length, where not given.
    """

    run_name: Optional[str] = None
    conditional: Optional[bool] = None
    class_names: tuple[str, ...] = ()
    minutes: Optional[float] = None
    kimg: Optional[float] = None
    intervals: dict[str, int] = field(default_factory=dict)

    def but(self, **changes: Any) -> "Decided":
        """A copy with some decisions added (intervals merge with the ones already decided)."""
        if "intervals" in changes:
            changes["intervals"] = {**self.intervals, **changes["intervals"]}
        return dataclasses.replace(self, **changes)

    def without(self, fields: set[str]) -> "Decided":
        """A copy that no longer decides the settings fields named (given again when a run continues:
        what is given now wins, as over the saved settings)."""
        keep = {k: v for k, v in self.values().items() if k not in fields}
        return Decided(run_name=self.run_name, conditional=keep.get("conditional"),
                       class_names=self.class_names if "class_names" in keep else (),
                       minutes=keep.get("minutes"), kimg=keep.get("kimg"),
                       intervals={k: v for k, v in self.intervals.items() if k in keep})

    def values(self) -> dict[str, Any]:
        """The decided values by settings field name (what ``apply`` puts in)."""
        out: dict[str, Any] = {}
        if self.run_name is not None:
            out["name"] = self.run_name
        if self.conditional is not None:
            out["conditional"] = self.conditional
        if self.class_names:
            out["class_names"] = ",".join(self.class_names)
        if self.minutes is not None:
            out["minutes"] = self.minutes
        if self.kimg is not None:
            out["kimg"] = self.kimg
        out.update(self.intervals)
        return out

    def apply(self, settings: Config) -> Config:
        """The run's effective configuration: a frozen copy of ``settings`` with the decisions in place."""
        values = self.values()
        return settings.replace(**values) if values else settings.thawed().freeze()

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["class_names"] = list(self.class_names)
        return {k: v for k, v in d.items() if v not in (None, [], {})}

    @classmethod
    def from_dict(cls, d: Any) -> "Decided":
        """The record config.json holds (unknown keys from a newer snowgan are ignored)."""
        if not isinstance(d, dict):
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in d.items() if k in known}
        if "class_names" in kept:
            kept["class_names"] = tuple(str(n) for n in kept["class_names"] or ())
        if "intervals" in kept:
            kept["intervals"] = {str(k): int(v) for k, v in (kept["intervals"] or {}).items()}
        return cls(**kept)


def config_json(settings: Config, decided: Decided) -> dict[str, Any]:
    """What a run's config.json holds: the settings as resolved, and beside them the decisions."""
    out = settings.to_dict()
    out["decided"] = decided.to_dict()
    return out


def effective(raw: dict[str, Any]) -> Config:
    """A run's effective configuration from its config.json (with or without a "decided" record)."""
    return Decided.from_dict(raw.get("decided")).apply(Config.from_dict(raw))
