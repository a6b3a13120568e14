"""Nudges: tracker sees both sides of a case, the team's internal activity (times only) and what
the customer was told (public updates), and tells the team, in its own helpdesk, when the two
drift apart and the customer is left in the dark.

Kinds: `silent_work` (internal activity, but no public update for `nudge_after_hours`),
`expected_passing` (the expected time is `nudge_before_hours` away, and the customer has heard
nothing since it was set), `expected_passed` (it passed so), `not_solved` (the customer answered
"Not solved yet" and has heard nothing since) and `problem_moved` (the linked problem changed
stage or its fix is out). `due()` judges a case as it is; a problem's move is judged where it
reaches its linked cases (`Problems`), since it is a change, not a state.

Each is judged after every ingest and by the quiet watch's sweep, and told at most once per case,
kind and period (`Store.tell_once`, one row whoever asks first, whatever the instance): as an
internal note through the source's write-back (where it has credentials and the helpdesk has
private notes) and as the company's signed webhook `case.nudge`. The note is for the team only:
it never enters the case, so no customer surface can show it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tracker.cases import OPEN_STAGES, Case
from tracker.clock import Clock
from tracker.helpdesks.writing import NewCase
from tracker.policy import last_public_update
from tracker.problems import FIXED_STAGES
from tracker.signing import Signer, case_url
from tracker.storage.base import Delivery, SourceConfig, Store, StoredCase, Tenant
from tracker.tenant_options import option_value
from tracker.writeback import KIND_PREFIX, WRITERS, enabled

log = logging.getLogger("tracker.nudges")

NUDGE_EVENT = "case.nudge"  # the company's webhook, and the delivery type of the notes
KINDS = ("silent_work", "expected_passing", "expected_passed", "not_solved", "problem_moved")
LINK_EVENT = "case.link"  # the write-back of the case's link (its request names the ticket as the API needs)
SIGNATURE = "(Added by tracker for the team; the customer does not see this note.)"


@dataclass(frozen=True, slots=True)
class Nudge:
    kind: str
    period: str  # told once per case, kind and period
    text: str  # what happened, with figures, and what to tell the customer (the page's link follows)


@dataclass(frozen=True, slots=True)
class NudgeSettings:
    channels: frozenset[str]  # "note", "webhook"; empty: off
    after_hours: float
    before_hours: float
    promise_hours: float


def settings_of(options: Mapping[str, str]) -> NudgeSettings:
    """The tenant's nudge options, or their defaults (nudge_after_hours: half of promise_hours)."""
    promise_hours = float(option_value(options, "promise_hours"))
    channels = str(option_value(options, "nudges"))
    after = options.get("nudge_after_hours")
    return NudgeSettings(
        channels=frozenset() if channels == "off" else frozenset(channels.split(",")),
        after_hours=float(option_value(options, "nudge_after_hours")) if after else promise_hours / 2,
        before_hours=float(option_value(options, "nudge_before_hours")),
        promise_hours=promise_hours,
    )


# --- what is due: pure, judged at `now` ---

def due(case: Case, settings: NudgeSettings, now: datetime) -> list[Nudge]:
    """The nudges a case calls for now (told or not: `Nudger` tells each once)."""
    found = [silent_work(case, settings, now), expected_time(case, settings, now), not_solved(case, now)]
    return [nudge for nudge in found if nudge is not None]


def silent_work(case: Case, settings: NudgeSettings, now: datetime) -> Nudge | None:
    since = last_public_update(case)
    if case.stage not in OPEN_STAGES or since is None:
        return None
    silent = now - since
    after = timedelta(hours=settings.after_hours)
    notes = sum(1 for at, _ in case.internal_times if since < at <= now)
    if silent < after or notes == 0:
        return None
    # Once more every promise period the silence goes on.
    period = int((silent - after) / timedelta(hours=settings.promise_hours))
    promised = since + timedelta(hours=settings.promise_hours)
    text = (f"{plural(notes, 'internal note')} since the customer last heard from you, {span(silent)} ago; "
            f"their page {'promised' if promised <= now else 'promises'} an update by {moment(promised)}. "
            "Tell them where things stand: what the team is doing and when they will hear next.")
    return Nudge("silent_work", f"{since.isoformat()}/{period}", text)


def expected_time(case: Case, settings: NudgeSettings, now: datetime) -> Nudge | None:
    """The expected time passing within nudge_before_hours, or passed, with no public update since it was set."""
    expected, set_at = case.expected_by, stamped_at(case, "expected_by")
    if case.stage not in OPEN_STAGES or expected is None or set_at is None:
        return None
    if any(update.at > set_at for update in case.updates):
        return None  # the customer has heard from the team since
    if expected <= now:
        text = (f"The time the customer was given, {moment(expected)}, passed {span(now - expected)} ago with no "
                f"public update since it was set ({moment(set_at)}). Tell them what is happening and when to "
                "expect it now.")
        return Nudge("expected_passed", expected.isoformat(), text)
    if expected - now <= timedelta(hours=settings.before_hours):
        text = (f"The time the customer was given, {moment(expected)}, is {span(expected - now)} away, and they "
                f"have heard nothing since it was set ({moment(set_at)}). Tell them whether it still holds, or "
                "give them a new time.")
        return Nudge("expected_passing", expected.isoformat(), text)
    return None


def not_solved(case: Case, now: datetime) -> Nudge | None:
    answered_at = stamped_at(case, "customer_verdict")
    if case.customer_verdict != "not_solved" or case.stage == "closed" or answered_at is None:
        return None
    if any(update.at > answered_at for update in case.updates):
        return None
    rating = f" (rating {case.customer_rating}/5)" if case.customer_rating else ""
    text = (f"The customer answered \"Not solved yet\" {span(now - answered_at)} ago{rating}, and has heard nothing "
            "since. Reopen the case if it is closed in your helpdesk, and tell them the next step.")
    return Nudge("not_solved", answered_at.isoformat(), text)


def problem_moved(before: Mapping[str, Any] | None, after: Mapping[str, Any], cause: str) -> Nudge | None:
    """The linked problem changed stage between two snapshots of it (problems.snapshot); `cause`
    names the move (the problem's revision), so a retried fan-out tells nothing twice."""
    if before is None or before.get("ref") != after.get("ref"):
        return None  # linked anew: nothing moved for this customer
    was, now_at = before.get("stage"), after.get("stage")
    if was is None or now_at is None or was == now_at:
        return None
    ref = after.get("ref")
    if now_at in FIXED_STAGES and was not in FIXED_STAGES:
        text = (f"The problem this case waits on ({ref}) is {stage_words(now_at)}: the fix is out. Tell the customer, "
                "and ask them to confirm it works for them.")
    else:
        text = (f"The problem this case waits on ({ref}) moved from {stage_words(was)} to {stage_words(now_at)}. "
                "Tell the customer what this means for their case.")
    return Nudge("problem_moved", f"{ref}/{now_at}/{cause}", text)


def stamped_at(case: Case, field_name: str) -> datetime | None:
    """When the field was last set (the time of the event that set it)."""
    stamp = case.stamps.get(field_name)
    return datetime.fromisoformat(stamp[0]) if stamp else None


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def span(duration: timedelta) -> str:
    """26 hours, 3 days, 45 minutes."""
    minutes = max(0, int(duration.total_seconds() // 60))
    if minutes < 60:
        return plural(minutes, "minute")
    hours = minutes // 60
    return plural(hours, "hour") if hours < 72 else plural(hours // 24, "day")


def moment(at: datetime) -> str:
    return at.strftime("%a %d %b %H:%M UTC")


def stage_words(stage: object) -> str:
    return str(stage).replace("_", " ")


# --- telling ---

class Nudger:
    """Tells the team each nudge once: a note through write-back, and the `case.nudge` webhook."""

    def __init__(self, store: Store, signer: Signer, base_url: str, clock: Clock) -> None:
        self.store = store
        self.signer = signer
        self.base_url = base_url
        self.clock = clock

    async def after_ingest(self, config: SourceConfig, case_keys: Iterable[int], payload: Any = None) -> int:
        """Judge the cases an ingest of this source changed; returns how many nudges were queued.
        The events are stored already: a failure here is logged, never turned into an error answer."""
        keys = list(dict.fromkeys(case_keys))
        if not keys:
            return 0
        try:
            tenant = await self.store.get_tenant(config.tenant)
            if tenant is None or not self.reachable(tenant, config):
                return 0
            settings, now = settings_of(tenant.options), self.clock.now()
            told = 0
            for key in keys:
                stored = await self.store.get_case_by_key(key)
                if stored is not None:
                    told += await self.tell(tenant, config, stored, due(stored.case, settings, now), payload)
            return told
        except Exception:
            log.exception("judging the nudges of tenant %s (source %s) failed", config.tenant, config.source)
            return 0

    async def before_problem_move(self, tenant_slug: str, linked: list[tuple[int, str, str]]) -> dict[int, StoredCase]:
        """The linked cases as they are before their problem's new snapshot, where a nudge would reach
        the team. A failure is logged: the snapshot matters more than the nudge."""
        try:
            tenant = await self.store.get_tenant(tenant_slug)
            if tenant is None:
                return {}
            reached = set()
            for source in {source for _, source, _ in linked}:
                if self.reachable(tenant, await self.store.get_source(tenant_slug, source)):
                    reached.add(source)
            found = {}
            for key, source, _ in linked:
                if source in reached and (stored := await self.store.get_case_by_key(key)) is not None:
                    found[key] = stored
            return found
        except Exception:
            log.exception("reading the cases linked to a problem for their nudges failed (tenant %s)", tenant_slug)
            return {}

    async def after_problem_move(self, tenant_slug: str, before: Mapping[int, StoredCase], state: Mapping[str, Any],
                                 cause: str) -> int:
        """Nudge the team of each linked case whose problem changed stage with this snapshot (a
        failure is logged: the snapshots are stored already)."""
        told = 0
        try:
            tenant = await self.store.get_tenant(tenant_slug)
            if tenant is None:
                return 0
            configs: dict[str, SourceConfig | None] = {}
            for key, stored in before.items():
                nudge = problem_moved(stored.case.problem_state, state, cause)
                if nudge is None or (current := await self.store.get_case_by_key(key)) is None:
                    continue
                if stored.source not in configs:
                    configs[stored.source] = await self.store.get_source(tenant_slug, stored.source)
                told += await self.tell(tenant, configs[stored.source], current, [nudge])
        except Exception:
            log.exception("nudging the cases linked to a problem that moved failed (tenant %s)", tenant_slug)
        return told

    def reachable(self, tenant: Tenant, config: SourceConfig | None) -> bool:
        """Whether a nudge of a case of this source would reach the team at all."""
        channels = settings_of(tenant.options).channels
        if "webhook" in channels and tenant.options.get("webhook_url"):
            return True
        writer = WRITERS.get(config.source) if config is not None else None
        if "note" not in channels or config is None or writer is None or writer.note_request is None:
            return False
        return enabled(config.source, config.options)

    async def tell(self, tenant: Tenant, config: SourceConfig | None, stored: StoredCase, nudges: list[Nudge],
                   payload: Any = None) -> int:
        """Queue each nudge not told yet (by any instance); returns how many were queued."""
        channels = settings_of(tenant.options).channels
        told = 0
        for nudge in nudges:
            if not await self.store.tell_once(stored.key, f"nudge:{nudge.kind}", nudge.period):
                continue
            url = case_url(self.base_url, self.signer, stored)
            text = f"{nudge.text} The customer's page: {url} {SIGNATURE}"
            where = []
            if "note" in channels and config is not None and await self._note(tenant, config, stored, nudge, text,
                                                                             url, payload):
                where.append(f"note ({config.source})")
            if "webhook" in channels and await self._webhook(tenant, stored, nudge, text, url):
                where.append("webhook")
            log.info("nudged tenant %s about %s:%s (%s) by %s", tenant.slug, stored.source, stored.case.case_id,
                     nudge.kind, ", ".join(where) or "nothing: no note or webhook reaches the team")
            told += 1
        return told

    async def _note(self, tenant: Tenant, config: SourceConfig, stored: StoredCase, nudge: Nudge, text: str,
                    url: str, payload: Any) -> bool:
        writer = WRITERS.get(config.source)
        if writer is None or writer.note_request is None or not enabled(config.source, config.options):
            return False
        link = await self.store.last_delivery(tenant.slug, LINK_EVENT, stored.key)
        case = NewCase(tenant.slug, config.source, stored.case.case_id, url, config.options, payload,
                       link.request if link else None, self.clock.now())
        request = writer.note_request(case, text)
        if request is None:
            log.warning("cannot write a nudge into %s:%s (tenant %s): tracker does not know the ticket's id in "
                        "its API", config.source, stored.case.case_id, tenant.slug)
            return False
        await self.store.add_delivery(tenant.slug, KIND_PREFIX + config.source, NUDGE_EVENT, stored.key,
                                      {**request, "nudge": {"kind": nudge.kind, "text": text}})
        return True

    async def _webhook(self, tenant: Tenant, stored: StoredCase, nudge: Nudge, text: str, url: str) -> bool:
        webhook_url = tenant.options.get("webhook_url")
        if not webhook_url:
            return False
        body = json.dumps({"type": NUDGE_EVENT, "timestamp": self.clock.now().isoformat(),
                           "data": {"kind": nudge.kind, "case": webhook_case(stored), "text": text, "case_url": url}})
        await self.store.add_delivery(tenant.slug, "webhook", NUDGE_EVENT, stored.key,
                                      {"method": "POST", "url": webhook_url, "body": body})
        return True


def webhook_case(stored: StoredCase) -> dict[str, Any]:
    """The case as the company's webhooks carry it."""
    case = stored.case
    return {"source": stored.source, "case_id": case.case_id, "title": case.title, "stage": case.stage,
            "waiting_on": case.waiting_on, "expected_by": case.expected_by.isoformat() if case.expected_by else None}


def listed(delivery: Delivery) -> dict[str, Any] | None:
    """A nudge as `tracker nudges` shows it, from one of its deliveries."""
    request = delivery.request
    if isinstance(request.get("nudge"), Mapping):
        return {"kind": request["nudge"].get("kind"), "text": request["nudge"].get("text")}
    try:
        data = json.loads(str(request.get("body", "")))["data"]
        return {"kind": data["kind"], "text": data["text"]}
    except (ValueError, KeyError, TypeError):
        return None
