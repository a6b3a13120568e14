"""What the app holds while it runs, typed: `state_of(request).store` rather than an untyped
`request.app.state.store`. create_app() sets the first ten; the lifespan the others."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from starlette.datastructures import State
from starlette.requests import Request

if TYPE_CHECKING:  # annotations only: these modules import state_of
    from tracker.clock import Clock
    from tracker.config import Settings
    from tracker.console.attempts import SignInAttempts
    from tracker.estimate import Estimator
    from tracker.metrics import Metrics
    from tracker.nudges import Nudger
    from tracker.outbound import Deliverer
    from tracker.pubsub.base import Hub
    from tracker.push import Vapid
    from tracker.quiet import QuietWatch
    from tracker.sealing import Sealer
    from tracker.signing import Signer
    from tracker.storage.base import Store
    from tracker.web.lookup import Lookup, RateLimiter
    from tracker.web.pages import PageCache
    from tracker.web.stream import Streams
    from tracker.web.subscriptions import SubscriptionLimits
    from tracker.web.templates import Templates


class AppState(State):
    settings: Settings
    clock: Clock
    templates: Templates
    page_cache: PageCache
    lookup: Lookup
    subscription_limits: SubscriptionLimits
    metrics: Metrics
    receipts_limit: RateLimiter  # receipts of webhooks that stored nothing (webhooks.py)
    problem_counts: dict[tuple[str, str], tuple[float, int]]  # the status page's counts (status_page.py)
    openings: dict[tuple[object, ...], asyncio.Future[dict[str, Any]]]  # streams' opening case data (case_data.py)
    sign_in_attempts: SignInAttempts  # the console's (console/attempts.py)
    store: Store
    hub: Hub
    signer: Signer
    sealer: Sealer
    vapid: Vapid
    streams: Streams
    deliverer: Deliverer
    estimator: Estimator
    quiet_watch: QuietWatch
    nudger: Nudger


def state_of(request: Request) -> AppState:
    return cast(AppState, request.app.state)
