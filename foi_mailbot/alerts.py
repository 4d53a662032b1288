"""Operations: tell a person when the mailbox or the mail server has been failing for a while.

The daemon reports every attempt to `Alerter.failure` / `Alerter.success`. One alert email goes to
`health.ops_address` once a component has failed continuously for `health.alert_after_seconds`,
and one "recovered" email when it next succeeds; retries in between send nothing. The state lives
in `service_state`, so a restart neither forgets an outage nor alerts about it twice. Alerts go
through the outbox like any other mail: when SMTP itself is down the alert waits there, and the
log line is what a person sees first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from foi_mailbot.clock import Clock, as_utc, local_date
from foi_mailbot.metrics import record_error
from foi_mailbot.oauth.expiry import secret_expiry_warning
from foi_mailbot.outbound.compose import compose, mint_message_id
from foi_mailbot.outbound.outbox import enqueue
from foi_mailbot.outbound.render import longdate
from foi_mailbot.parsing.parsed import Address
from foi_mailbot.settings import Settings
from foi_mailbot.storage.db import session_scope
from foi_mailbot.storage.models import ServiceState
from foi_mailbot.storage.state import get_state, put_state

log = structlog.get_logger(__name__)

STATE_PREFIX: Final = "failing:"
COMPONENTS: Final = {
    "mailbox": "the mailbox (IMAP)",
    "smtp": "the outgoing mail server (SMTP)",
    "oauth": "the sign-in service (OAuth2 tokens)",
}
_MEANWHILE: Final = {
    "mailbox": "New mail waits on the mail server until it can be fetched.",
    "smtp": "Outgoing mail, this message included, waits in the outbox until it can be sent.",
    "oauth": ("Without a token mail is neither read nor sent; it waits, nothing is lost. The "
              "error above is the identity provider's own: a revoked or expired secret, or "
              "a permission taken away, does not pass by itself."),
}
IMMEDIATE: Final = frozenset({"oauth"})
"""Components alerted at the first failure: a refused sign-in does not mend by waiting."""
MAX_ERROR_CHARS: Final = 500


@dataclass
class _Failing:
    """What `service_state` holds for a component while it fails."""

    since: datetime
    alerted: bool
    last_error: str

    def as_json(self) -> dict[str, Any]:
        return {"failing_since": self.since.isoformat(), "alerted": self.alerted,
                "last_error": self.last_error}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> _Failing | None:
        if not value or not value.get("failing_since"):
            return None
        since = as_utc(datetime.fromisoformat(str(value["failing_since"])))
        return cls(since, bool(value.get("alerted")), str(value.get("last_error", "")))


def failing_errors(session: Session) -> dict[str, str]:
    """Components now recorded as failing, each with its last error."""
    rows = session.scalars(
        select(ServiceState).where(ServiceState.key.startswith(STATE_PREFIX))
    ).all()
    return {
        row.key.removeprefix(STATE_PREFIX): str(row.value.get("last_error", ""))
        for row in rows
        if row.value.get("failing_since")
    }


def failing_components(session: Session) -> dict[str, str]:
    """Components now recorded as failing, each with the ISO instant its failure began."""
    rows = session.scalars(
        select(ServiceState).where(ServiceState.key.startswith(STATE_PREFIX))
    ).all()
    return {
        row.key.removeprefix(STATE_PREFIX): str(row.value["failing_since"])
        for row in rows
        if row.value.get("failing_since")
    }


class Alerter:
    """Turns a run of failures into one alert and one recovery notice per outage."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session], clock: Clock) -> None:
        self.settings = settings
        self.factory = factory
        self.clock = clock
        # Known-healthy components skip the database on every success (it is called per cycle).
        self._healthy: set[str] = set()
        self._expiry_checked: date | None = None
        self._sign_in_failing = False

    @property
    def threshold(self) -> timedelta:
        """How long a component must fail before a person is told."""
        return timedelta(seconds=self.settings.health.alert_after_seconds)

    def report(self, component: str, error: str | None) -> None:
        """An attempt of `component` failed with `error`, or worked (None)."""
        if error is None:
            self.success(component)
        else:
            self.failure(component, error)

    def token_result(self, error: str | None) -> None:
        """An OAuth2 token fetch worked (None) or failed with the provider's words: component
        `oauth`, alerted at once on failure."""
        self._sign_in_failing = error is not None
        if error:
            self.failure("oauth", error)
        else:
            self.success("oauth")

    def mailbox_synced(self, error: str | None) -> None:
        """A mailbox sync ended, failed with `error` or not; the OAuth2 secret's end is looked
        at here too, at most once a day."""
        self.check_secret_expiry()
        self.report("mailbox", error)

    def check_secret_expiry(self) -> None:
        """Once a day at most: one alert mail when the OAuth2 secret ends within 30 days."""
        now = self.clock.now()
        today = local_date(now, self.settings.organisation.zone)
        if self._expiry_checked == today:
            return
        self._expiry_checked = today
        oauth = self.settings.oauth
        warning = secret_expiry_warning(oauth, today)
        if warning is None or oauth.secret_expires is None:
            return
        with session_scope(self.factory) as session:
            key = f"oauth-secret-expiry:{oauth.secret_expires.isoformat()}"
            text = (f"foi-mailbot for {self.settings.organisation.name}: {warning}.\n\n"
                    "When it ends, foi-mailbot can neither read nor send mail.\n")
            queued = self._send(session, key, "alert", "foi-mailbot: the OAuth2 secret ends soon",
                                text, now)
        log.warning("oauth.secret_expires_soon", expires=oauth.secret_expires.isoformat(),
                    emailed=queued)

    def failure(self, component: str, error: str) -> None:
        """Record a failed attempt; alert once the failure has lasted long enough."""
        now = self.clock.now()
        error = error[:MAX_ERROR_CHARS]
        self._healthy.discard(component)
        with session_scope(self.factory) as session:
            record_error(session, component, now)
            key = STATE_PREFIX + component
            state = _Failing.from_json(get_state(session, key))
            if state is None:
                state = _Failing(since=now, alerted=False, last_error=error)
                log.warning("alert.failing", component=component, error=error)
            state.last_error = error
            threshold = timedelta(0) if component in IMMEDIATE else self.threshold
            # Without a token the servers cannot be reached either: that alert says it all.
            caused = component != "oauth" and self._sign_in_failing
            if not state.alerted and not caused and now - state.since >= threshold:
                self._raise_alert(session, component, state, now)
                state.alerted = True
            put_state(session, key, state.as_json(), now)

    def success(self, component: str) -> None:
        """Record a successful attempt; if an alert went out, say that it has recovered."""
        if component in self._healthy:
            return
        now = self.clock.now()
        with session_scope(self.factory) as session:
            key = STATE_PREFIX + component
            state = _Failing.from_json(get_state(session, key))
            if state is not None:
                if state.alerted:
                    self._recovered(session, component, state, now)
                else:
                    log.info("alert.cleared", component=component,
                             failed_for_seconds=int((now - state.since).total_seconds()))
                put_state(session, key, {}, now)
        self._healthy.add(component)

    def _raise_alert(self, session: Session, component: str, state: _Failing,
                     now: datetime) -> None:
        what = COMPONENTS.get(component, component)
        since = self._local(state.since)
        subject = f"foi-mailbot cannot reach {what} since {since}"
        text = (
            f"foi-mailbot for {self.settings.organisation.name} has not been able to reach "
            f"{what} since {since}.\n\nThe last error was:\n  {state.last_error}\n\n"
            f"It keeps retrying on its own. {_MEANWHILE.get(component, '')}\n"
            "You will get one more message when it works again.\n"
        )
        queued = self._send(session, f"alert:{component}:{state.since.isoformat()}", "alert",
                            subject, text, now)
        # When SMTP is the failing component the email waits in the outbox: this line is the news.
        log.error("alert.raised", component=component, since=state.since.isoformat(),
                  error=state.last_error, emailed=queued,
                  hint=None if queued else "set health.ops_address to be told by email")

    def _recovered(self, session: Session, component: str, state: _Failing,
                   now: datetime) -> None:
        what = COMPONENTS.get(component, component)
        subject = f"foi-mailbot reaches {what} again"
        text = (
            f"foi-mailbot for {self.settings.organisation.name} reaches {what} again since "
            f"{self._local(now)}. It had been failing since {self._local(state.since)}.\n"
        )
        queued = self._send(session, f"recovered:{component}:{state.since.isoformat()}",
                            "recovered", subject, text, now)
        log.warning("alert.recovered", component=component, since=state.since.isoformat(),
                    emailed=queued)

    def _send(self, session: Session, key: str, purpose: str, subject: str, text: str,
              now: datetime) -> bool:
        """Queue one message to the operations address; False if none is configured."""
        settings = self.settings
        ops = settings.health.ops_address
        if not ops:
            return False
        from_addr = settings.smtp.from_address or settings.organisation.mailbox_address
        message_id = mint_message_id(from_addr.rpartition("@")[2])
        message = compose(
            from_addr=from_addr, from_name=f"{settings.organisation.name} foi-mailbot",
            to=Address(name="", email=ops), subject=subject, text=text, html=None,
            message_id=message_id, in_reply_to=None, references=(), automatic=True, date=now,
        )
        enqueue(session, key=key, message=message, message_id=message_id, to_email=ops,
                purpose=purpose, now=now, automatic=True)
        return True

    def _local(self, instant: datetime) -> str:
        local = as_utc(instant).astimezone(self.settings.organisation.zone)
        return f"{longdate(local.date())} {local:%H:%M %Z}"
