"""The console's copy of the silences topic: what the silences page lists, kept after expiry for audit.

The topic (``turnwatch.silences``, key = silence_id, the newest version wins) is the source of truth:
delivery honours it, the console's collector and the console itself (when a reviewer creates or expires
one) write it here. A version older than the stored one changes nothing, so replays are harmless.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from streams.console.db import as_utc, silences
from streams.contracts import SilenceEvent


class SilenceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, silence: SilenceEvent) -> bool:
        """Store a new silence or a newer version of one; True when the row changed."""
        row = silence.model_dump(mode="python")
        row["matchers"] = [m.model_dump() for m in silence.matchers]
        with self.engine.begin() as connection:
            stored = connection.execute(
                select(silences.c.updated_at).where(silences.c.silence_id == silence.silence_id).with_for_update()
            ).scalar_one_or_none()
            if stored is None:
                connection.execute(insert(silences).values(row))
                return True
            if as_utc(stored) >= as_utc(silence.updated_at):
                return False
            connection.execute(update(silences).where(silences.c.silence_id == silence.silence_id).values(row))
            return True

    def get(self, silence_id: str) -> SilenceEvent | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(silences).where(silences.c.silence_id == silence_id)).one_or_none()
        return SilenceEvent.model_validate(row._asdict()) if row else None

    def listing(self, now: datetime, limit: int = 200) -> list[SilenceEvent]:
        """Active and pending silences first (soonest to end first), then expired ones, newest first."""
        query = select(silences).order_by(silences.c.ends_at.desc()).limit(limit)
        with self.engine.connect() as connection:
            found = [SilenceEvent.model_validate(row._asdict()) for row in connection.execute(query)]
        live = sorted((s for s in found if s.ends_at > now), key=lambda s: s.ends_at)
        return live + [s for s in found if s.ends_at <= now]
