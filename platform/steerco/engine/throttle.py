"""Failed-login throttling with exponential backoff, per account and per client address.

Each failed login is counted against two keys: the account (the e-mail typed, whether or
not an account has it) and the client's address. A key may fail a few times freely
(:class:`Policy`); after that every further attempt must wait twice as long as the one
before (1 s, 2 s, 4 s, ... up to 15 minutes) after the last failure, and an attempt that
comes too early is refused without looking at the password, so guessing gets slower
and slower while a person who mistyped twice notices nothing. Failures older than the
window are forgotten; a successful login clears its account's failures (not the
address's, so one known password does not reset a spray over many accounts).

Why not Flask-Limiter: it counts requests in fixed or moving windows (no backoff, and it
would count successes too) and stores them in memory, Redis or Memcached, not in the
application's database, which is the default store here. The counting is a few lines;
the stores are the database's ``login_failure`` table (:class:`DatabaseStore`) or Redis
when ``REDIS_URL`` is set (:class:`RedisStore`, sorted sets with an expiry), so several
app processes share the counts either way. Keys are SHA-256 hashes: neither store
keeps e-mails or addresses in the clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from steerco.store.models import LoginFailure, utcnow


@dataclass(frozen=True)
class Policy:
    free: int
    window: dt.timedelta = dt.timedelta(minutes=15)
    longest_wait: dt.timedelta = dt.timedelta(minutes=15)

    def wait(self, failures: int, last: dt.datetime | None, now: dt.datetime) -> int:
        """Seconds still to wait before the next attempt (0: go ahead)."""
        if failures < self.free or last is None:
            return 0
        delay = min(2 ** min(failures - self.free, 30), self.longest_wait.total_seconds())
        remaining = (last + dt.timedelta(seconds=delay) - now).total_seconds()
        return max(0, int(remaining + 0.999))


#: an account is guessed at slowly after 5 failures; an address (an office behind one NAT
#: address has many people) after 20
ACCOUNT = Policy(free=5)
ADDRESS = Policy(free=20)


def key(kind: str, value: str) -> str:
    """The stored key for an account (``kind="account"``, the e-mail) or an address."""
    return hashlib.sha256(f"{kind}:{value.strip().lower()}".encode()).hexdigest()


class Store(Protocol):
    def failures(self, key: str, since: dt.datetime) -> tuple[int, dt.datetime | None]: ...

    def add(self, key: str, at: dt.datetime, window: dt.timedelta) -> None: ...

    def clear(self, key: str) -> None: ...


class DatabaseStore:
    """Failures as rows of ``login_failure`` (written in the caller's transaction)."""

    def __init__(self, session: Session):
        self.session = session

    def failures(self, key: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
        count, last = self.session.execute(select(func.count(LoginFailure.id), func.max(LoginFailure.failed_at))
                                           .where(LoginFailure.key == key, LoginFailure.failed_at > since)).one()
        return int(count), last

    def add(self, key: str, at: dt.datetime, window: dt.timedelta) -> None:
        # Forget this key's old failures as new ones come: the table stays small by itself.
        self.session.execute(delete(LoginFailure).where(LoginFailure.key == key,
                                                        LoginFailure.failed_at <= at - window))
        self.session.add(LoginFailure(key=key, failed_at=at))
        self.session.flush()

    def clear(self, key: str) -> None:
        self.session.execute(delete(LoginFailure).where(LoginFailure.key == key))


def _stamp(moment: dt.datetime) -> float:
    """Seconds since the epoch of a naive UTC time (as the database stores them)."""
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


class RedisStore:
    """Failures as members of a sorted set per key (score: the time), expiring with the window."""

    def __init__(self, client: Any, prefix: str = "steerco:login-failures:"):
        self.client, self.prefix = client, prefix

    def failures(self, key: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
        name = self.prefix + key
        self.client.zremrangebyscore(name, "-inf", _stamp(since))
        count = self.client.zcard(name)
        newest = self.client.zrange(name, -1, -1, withscores=True)
        last = dt.datetime.fromtimestamp(newest[0][1], dt.timezone.utc).replace(tzinfo=None) if newest else None
        return int(count), last

    def add(self, key: str, at: dt.datetime, window: dt.timedelta) -> None:
        name = self.prefix + key
        stamp = _stamp(at)
        pipe = self.client.pipeline()
        pipe.zadd(name, {f"{stamp:.6f}:{secrets.token_hex(4)}": stamp})  # one member per failure
        pipe.expire(name, int(window.total_seconds()) + 1)
        pipe.execute()

    def clear(self, key: str) -> None:
        self.client.delete(self.prefix + key)


class Throttle:
    """The backoff over one store; ``now`` is passed in so tests choose the moment."""

    def __init__(self, store: Store):
        self.store = store

    def wait(self, keys: dict[str, Policy], now: dt.datetime | None = None) -> int:
        """Seconds to wait before another attempt for these keys may be checked (0: go ahead)."""
        now = now or utcnow()
        waits = [policy.wait(*self.store.failures(k, now - policy.window), now) for k, policy in keys.items()]
        return max(waits, default=0)

    def failed(self, keys: dict[str, Policy], now: dt.datetime | None = None) -> None:
        now = now or utcnow()
        for k, policy in keys.items():
            self.store.add(k, now, policy.window)

    def succeeded(self, account_key: str) -> None:
        self.store.clear(account_key)
