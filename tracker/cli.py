"""The command line: serve, demo, tenant add, source add, link, revoke, cases-link, cases, migrate, deliveries,
notifications, nudges, received, insights, forget, backup, restore, apikey, problem, admin, settings.

Every command reads Settings from the environment once and exits non-zero with a one-line
reason on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import inspect
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from tracker import admin, apikeys, backup, erasure, helpdesks, linking, logs
from tracker.config import SETTINGS, Settings, variable
from tracker.console import accounts
from tracker.errors import BadRequest, ConfigError, TrackerError
from tracker.helpdesks.base import problem_link
from tracker.insights import DEFAULT_SINCE, flat_rows, report
from tracker.nudges import NUDGE_EVENT, listed
from tracker.outbound import redeliver
from tracker.received import latest_received
from tracker.requester_links import revoke_list_links, sign_list_link
from tracker.sealing import Sealer
from tracker.signing import Signer, case_url, load_keys
from tracker.storage import open_store
from tracker.storage.base import Delivery, ProblemNotes, Store
from tracker.tenant_options import option_value
from tracker.writeback import KIND_PREFIX


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the demo posts a webhook every few seconds
    try:
        settings = Settings.from_env({**os.environ, **listen_overrides(args)})
        result: int = args.run(settings, args)
        return result
    except TrackerError as exc:
        print(f"tracker: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def listen_flags(command: argparse.ArgumentParser) -> None:
    """--host and --port, as uvicorn has them; they override TRACKER_HOST and TRACKER_PORT."""
    command.add_argument("--host", help="address to listen on (default: TRACKER_HOST, else 127.0.0.1)")
    command.add_argument("--port", help="port to listen on (default: TRACKER_PORT, else 8000)")


def listen_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The flags given, as the variables they override (checked by Settings like the variables,
    and TRACKER_BASE_URL follows them when it is unset)."""
    flags = {"TRACKER_HOST": getattr(args, "host", None), "TRACKER_PORT": getattr(args, "port", None)}
    return {name: value for name, value in flags.items() if value is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracker", description="Live, signed case pages for any helpdesk.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service")
    listen_flags(serve)
    serve.set_defaults(run=run_serve)

    demo = commands.add_parser("demo", help="run the service with demo cases fed by a simulated helpdesk")
    listen_flags(demo)
    demo.add_argument("--interval-seconds", type=float, default=4.0, help="time between simulated updates")
    demo.set_defaults(run=run_demo)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(required=True, metavar="ACTION")
    tenant_add = tenant.add_parser("add", help="create or update a tenant")
    tenant_add.add_argument("slug")
    tenant_add.add_argument("--name")
    tenant_add.add_argument("--theme", help="the look of its pages (default: default)")
    tenant_add.add_argument("--option", action="append", default=[], type=option, metavar="KEY=VALUE",
                            help="a tenant setting, e.g. embed_origins=https://support.example.com (repeatable)")
    tenant_add.set_defaults(run=with_store(tenant_add_command))

    source = commands.add_parser("source", help="connect helpdesks").add_subparsers(required=True, metavar="ACTION")
    source_add = source.add_parser("add", help="connect a helpdesk; prints the webhook URL and secret")
    source_add.add_argument("tenant")
    source_add.add_argument("source", help="one of: " + ", ".join(sorted(helpdesks.SOURCES)))
    source_add.add_argument("--secret", help="the signing secret (generated when not given)")
    source_add.add_argument("--option", action="append", default=[], type=option, metavar="KEY=VALUE",
                            help="a setting of this source, e.g. linear's public_comments=yes (repeatable)")
    source_add.set_defaults(run=with_store(source_add_command))

    link = commands.add_parser("link", help="print a signed case link")
    link.add_argument("tenant")
    link.add_argument("case_id", metavar="CASE_ID", help="SOURCE:ID, or ID when only one source has it")
    link.add_argument("--expires-days", type=positive_int, help="the link stops working after N days")
    link.set_defaults(run=with_store(link_command))

    revoke = commands.add_parser("revoke", help="stop every link issued for a case so far")
    revoke.add_argument("tenant")
    revoke.add_argument("case_id", metavar="CASE_ID")
    revoke.set_defaults(run=with_store(revoke_command))

    cases_link = commands.add_parser("cases-link", help="a link to one customer's own cases (My cases), or --revoke")
    cases_link.add_argument("tenant")
    cases_link.add_argument("email", metavar="EMAIL", help="the requester's address, as the helpdesks report it")
    cases_link.add_argument("--expires-days", type=positive_int, help="the link stops working after N days")
    cases_link.add_argument("--revoke", action="store_true", help="withdraw every such link issued so far")
    cases_link.set_defaults(run=with_store(cases_link_command))

    cases = commands.add_parser("cases", help="list a tenant's cases, newest first")
    cases.add_argument("tenant")
    cases.set_defaults(run=with_store(cases_command))

    migrate = commands.add_parser(
        "migrate", help="copy a SQLite database into the PostgreSQL database of TRACKER_DATABASE_URL",
        description="Copies tenants, sources, cases, the event log and the stored signing key, so that "
                    "every link and webhook secret keeps working. The target must have no cases yet.")
    migrate.add_argument("source_url", nargs="?", metavar="SOURCE_URL", help="e.g. sqlite:///tracker.db")
    migrate.add_argument("--from", dest="from_url", metavar="SOURCE_URL", help="the same, as an option")
    migrate.set_defaults(run=run_migrate)

    deliveries = commands.add_parser("deliveries", help="the outbound delivery log of a tenant, newest first")
    deliveries.add_argument("tenant")
    deliveries.add_argument("--limit", type=positive_int, default=50, help="how many to show (default 50)")
    deliveries.add_argument("--redeliver", type=positive_int, metavar="ID", help="send delivery ID again now")
    deliveries.set_defaults(run=with_store(deliveries_command))

    notifications = commands.add_parser("notifications", help="the mails to a tenant's customers (confirmations "
                                        "and news), newest first; never their addresses")
    notifications.add_argument("tenant")
    notifications.add_argument("--limit", type=positive_int, default=50, help="how many to show (default 50)")
    notifications.set_defaults(run=with_store(notifications_command))

    nudges = commands.add_parser("nudges", help="the nudges the team got, newest first: when, case, kind, where "
                                                "they went (an internal note, the webhook) and their text")
    nudges.add_argument("tenant")
    nudges.add_argument("--limit", type=positive_int, default=50, help="how many to show (default 50)")
    nudges.set_defaults(run=with_store(nudges_command))

    forget = commands.add_parser("forget", help="erase a person's data in a tenant (requester fields, their name "
                                                "in updates, subscriptions, mails), keeping the cases' shape")
    forget.add_argument("tenant")
    forget.add_argument("--email", required=True, help="the person's address, as the helpdesks report it")
    forget.set_defaults(run=with_store(forget_command))

    backup_command = commands.add_parser("backup", help="a consistent copy of the SQLite database, while it serves")
    backup_command.add_argument("file", metavar="FILE")
    backup_command.set_defaults(run=run_backup)
    restore_command = commands.add_parser("restore", help="put a backup in place of the database (service stopped)")
    restore_command.add_argument("file", metavar="FILE")
    restore_command.add_argument("--force", action="store_true", help="replace the database there")
    restore_command.set_defaults(run=run_restore)

    received = commands.add_parser("received", help="the latest webhook deliveries, and why those that stored "
                                                    "nothing did not")
    received.add_argument("tenant")
    received.add_argument("source", nargs="?", help="only this source's")
    received.add_argument("--limit", type=positive_int, default=50, help="how many to show (default 50)")
    received.set_defaults(run=with_store(received_command))

    insights = commands.add_parser("insights", help="what the cases teach: per source and priority, the cases "
                                                    "opened and resolved, response times, promises kept")
    insights.add_argument("tenant")
    insights.add_argument("--since", default=DEFAULT_SINCE,
                          help=f"the cases opened within this period: 12h, 30d, 2w (default {DEFAULT_SINCE})")
    insights.add_argument("--source", help="only this source's cases")
    insights.add_argument("--csv", action="store_true", help="one CSV row per source and priority")
    insights.set_defaults(run=with_store(insights_command))

    apikey = commands.add_parser("apikey", help="keys for the admin API (/api/v1)").add_subparsers(
        required=True, metavar="ACTION")
    apikey_add = apikey.add_parser("add", help="make a key for a tenant; prints it once")
    apikey_add.add_argument("tenant")
    apikey_add.add_argument("--name", default="default", help="what the key is for (default: default)")
    apikey_add.set_defaults(run=with_store(apikey_add_command))
    apikey_list = apikey.add_parser("list", help="a tenant's keys by name (never the keys themselves)")
    apikey_list.add_argument("tenant")
    apikey_list.set_defaults(run=with_store(apikey_list_command))
    apikey_revoke = apikey.add_parser("revoke", help="stop a key at once")
    apikey_revoke.add_argument("tenant")
    apikey_revoke.add_argument("name")
    apikey_revoke.set_defaults(run=with_store(apikey_revoke_command))

    problem_command = commands.add_parser("problem", help="link cases to the problem they wait on, and describe it")
    problem = problem_command.add_subparsers(required=True, metavar="ACTION")
    problem_link = problem.add_parser("link", help="link a case to a problem (another case, SOURCE:ID)")
    problem_link.add_argument("tenant")
    problem_link.add_argument("case_id", metavar="CASE")
    problem_link.add_argument("problem", metavar="PROBLEM", help="SOURCE:ID, e.g. github:acme/app#12")
    problem_link.set_defaults(run=with_store(problem_link_command))
    problem_unlink = problem.add_parser("unlink", help="unlink a case from its problem")
    problem_unlink.add_argument("tenant")
    problem_unlink.add_argument("case_id", metavar="CASE")
    problem_unlink.set_defaults(run=with_store(problem_link_command), problem=None)
    problem_describe = problem.add_parser("describe", help="what customers are told of a problem")
    problem_describe.add_argument("tenant")
    problem_describe.add_argument("problem", metavar="PROBLEM", help="SOURCE:ID")
    problem_describe.add_argument("--title", help="the title customers see")
    problem_describe.add_argument("--summary", help="a sentence or two for customers")
    problem_describe.add_argument("--listed", choices=("yes", "no"), help="on the status page /s/TENANT")
    problem_describe.set_defaults(run=with_store(problem_describe_command))

    console = commands.add_parser("admin", help="people who sign in to the console (/admin)").add_subparsers(
        required=True, metavar="ACTION")
    console_add = console.add_parser("add", help="let someone sign in to a tenant's console; prints a one-time "
                                                 "link to choose a password (last line)")
    console_add.add_argument("tenant")
    console_add.add_argument("email", metavar="EMAIL")
    console_add.set_defaults(run=with_store(console_add_command))

    show = commands.add_parser("settings", help="print the effective settings (secrets masked)")
    show.set_defaults(run=settings_command)
    return parser


def option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("write options as KEY=VALUE")
    return key, value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


Command = Callable[[Settings, Store, argparse.Namespace], Awaitable[None]]


def with_store(command: Command) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        async def go() -> None:
            store = await open_store(settings.database_url, settings.clock())
            try:
                await command(settings, store, args)
            finally:
                await store.close()

        asyncio.run(go())
        return 0

    return run


async def tenant_add_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    tenant = await admin.add_tenant(store, args.slug, args.name, args.theme, dict(args.option), settings.themes_dir)
    for key, value in tenant.options.items():
        print(f"Option: {key}={value}")
    print(f"Tenant '{tenant.slug}' is ready. Connect a helpdesk: tracker source add {tenant.slug} SOURCE")


async def source_add_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    sealer = Sealer(await load_keys(settings.secret_keys, store))  # stored sealed, shown once here
    config = await admin.add_source(store, args.tenant, args.source, args.secret, dict(args.option), sealer)
    print(f"Webhook URL: {settings.base_url}/hooks/{config.tenant}/{config.source}")
    print(f"Secret:      {config.secret}")
    for key, value in config.options.items():
        print(f"Option:      {key}={value}")
    print()
    print(inspect.getdoc(helpdesks.get(config.source)) or "")


async def link_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    stored = await admin.resolve_case(store, args.tenant, args.case_id)
    signer = Signer(await load_keys(settings.secret_keys, store), settings.clock())
    expires_at = None
    if args.expires_days:
        expires_at = settings.clock().now() + timedelta(days=args.expires_days)
    print(case_url(settings.base_url, signer, stored, expires_at))


async def cases_link_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    if "@" not in args.email or any(c.isspace() for c in args.email.strip()):
        raise ConfigError(f"{args.email!r} is not an e-mail address.")
    if args.revoke:
        version = await revoke_list_links(store, args.tenant, args.email)
        print(f"Every link to the cases of {args.email.strip().lower()} issued before now stops working "
              f"(version {version}). Issue a new one with: tracker cases-link {args.tenant} {args.email.strip()}")
        return
    signer = Signer(await load_keys(settings.secret_keys, store), settings.clock())
    expires_at = settings.clock().now() + timedelta(days=args.expires_days) if args.expires_days else None
    print(f"{settings.base_url}/r/{await sign_list_link(signer, store, args.tenant, args.email, expires_at)}")


async def revoke_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    stored = await admin.resolve_case(store, args.tenant, args.case_id)
    version = await store.bump_link_version(stored.key)
    name = f"{stored.source}:{stored.case.case_id}"
    print(f"Every link to {name} issued before now stops working (link version {version}). "
          f"Issue a new one with: tracker link {args.tenant} {name}")


async def problem_link_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    stored = await admin.resolve_case(store, args.tenant, args.case_id)
    name = f"{stored.source}:{stored.case.case_id}"
    source, _, case_id = (args.problem or "").partition(":")
    try:
        problem = None if args.problem is None else problem_link({"source": source, "id": case_id}, "PROBLEM")
    except BadRequest as exc:
        raise ConfigError(f"{exc} Write SOURCE:ID, e.g. github:acme/app#12.") from None
    if problem == name:
        raise ConfigError("A case cannot be its own problem.")
    await linking.link_problem(store, settings.clock(), stored, problem)
    print(f"{name} is linked to {args.problem}: its customer sees the problem within seconds." if args.problem
          else f"{name} is no longer linked to a problem.")


async def problem_describe_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    source, sep, case_id = args.problem.partition(":")
    if not sep or not case_id:
        raise ConfigError(f"Name the problem as SOURCE:ID, e.g. github:acme/app#12, not {args.problem!r}.")
    given = {name: value for name, value in (("public_title", args.title), ("summary", args.summary))
             if value is not None}
    if args.listed is not None:
        given["listed"] = args.listed == "yes"
    notes = await store.get_problem_notes(args.tenant, source, case_id) or ProblemNotes(args.tenant, source, case_id)
    try:
        notes = await store.set_problem_notes(linking.changed_notes(notes, given))
    except BadRequest as exc:
        raise ConfigError(str(exc)) from None
    problem = await store.get_case(args.tenant, source, case_id)
    if problem is not None:  # the running service tells the linked cases
        await store.add_delivery(args.tenant, "problem", "problem.notes", problem.key, {"problem": problem.key})
    print(f"{args.problem}: {notes.public_title or '(no title for customers)'}; "
          f"{'listed' if notes.listed else 'not listed'} on the status page; "
          f"{await store.count_linked(args.tenant, notes.ref)} open case(s) linked.")


async def cases_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    for stored in await store.list_cases(args.tenant):
        print(f"{stored.source}:{stored.case.case_id}")


async def deliveries_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    if args.redeliver:
        delivery = await store.get_delivery(args.redeliver)
        if delivery is None or delivery.tenant != args.tenant:
            raise ConfigError(f"No delivery {args.redeliver} for tenant '{args.tenant}'. See: tracker deliveries "
                              f"{args.tenant}")
        await redeliver(store, delivery, settings.clock().now())
        print(f"Delivery {delivery.id} is queued again; a running tracker sends it within seconds.")
        return
    for delivery in await store.list_deliveries(args.tenant, args.limit):
        print_delivery(delivery)


async def notifications_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    mails = [d for d in await store.list_deliveries(args.tenant, MAX_LISTED) if d.kind == "mail"]
    for delivery in mails[:args.limit]:
        print_delivery(delivery)


async def nudges_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    tenant = await admin.require_tenant(store, args.tenant)
    # One nudge is up to two deliveries (its note and its webhook), with the same text.
    found: dict[tuple[int | None, str, str], list[Delivery]] = {}
    for delivery in await store.list_deliveries(args.tenant, MAX_LISTED, event_type=NUDGE_EVENT):
        shown = listed(delivery)
        if shown is not None:
            found.setdefault((delivery.case_key, str(shown["kind"]), str(shown["text"])), []).append(delivery)
    for (case_key, kind, text), sent in list(found.items())[:args.limit]:
        stored = await store.get_case_by_key(case_key) if case_key is not None else None
        case = f"{stored.source}:{stored.case.case_id}" if stored else "(a deleted case)"
        when = min(d.created_at for d in sent).strftime("%Y-%m-%d %H:%M:%S")
        where = "; ".join(f"{channel_of(d)}: {d.status}" for d in reversed(sent))
        print(f"{when}  {case}  {kind}  {where}")
        print(f"    {text}")
    if not found:
        how = option_value(tenant.options, "nudges")
        print(f"No nudges for {args.tenant} yet. They go as {how} (tenant option nudges): a note needs a source "
              "with write-back credentials, the case.nudge event needs the tenant's webhook_url."
              if how != "off" else f"No nudges for {args.tenant}: the tenant option nudges is off.")


def channel_of(delivery: Delivery) -> str:
    source = delivery.kind.removeprefix(KIND_PREFIX)
    return "webhook" if delivery.kind == "webhook" else f"note ({source})"


async def received_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    if args.source is not None:
        helpdesks.get(args.source)  # an unknown name: the error names the known ones
    found = await latest_received(store, args.tenant, args.source, args.limit)
    for receipt in found:
        when = receipt.received_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when}  {receipt.source:<10}  {receipt.outcome:<9}  {receipt.status}  {receipt.detail}")
    if not found:
        print(f"Nothing received yet for {args.tenant}. The webhook URL: {settings.base_url}/hooks/{args.tenant}/"
              f"{args.source or 'SOURCE'}")


async def insights_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    tenant = await admin.require_tenant(store, args.tenant)
    found = await report(store, tenant, args.since, args.source, settings.clock().now())
    if args.csv:
        rows = flat_rows(found)
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["source"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    print_insights(found)


def print_insights(found: dict[str, Any]) -> None:
    """The report as a table: hours as median/80th percentile."""
    print(f"Cases of {found['tenant']} opened since {found['opened_since'][:16].replace('T', ' ')} UTC "
          f"({found['since']}); promise: an update every {found['promise_hours']:g} h.")
    if not found["groups"]:
        print("No cases opened in that period.")
        return
    header = ("source", "priority", "opened", "resolved", "open", "quiet", "silent", "1st update", "received",
              "in progress", "resolved h", "to resolve", "held", "slip", "solved", "not", "rating")
    table = [header]
    for group in found["groups"]:
        hours = group["hours"]
        expected, ratings = group["expected"], group["ratings"]
        table.append((group["source"], group["priority"] or "(all)", *map(str, (
            group["opened"], group["resolved"], group["open"], group["gone_quiet"], group["silent_work"])),
            *(spread(hours[name]) for name in ("first_update", "received", "in_progress", "resolved", "resolution")),
            f"{expected['held']}/{expected['given']}", spread(hours["slip"]),
            str(group["verdicts"]["solved"]), str(group["verdicts"]["not_solved"]),
            "-" if ratings["average"] is None else f"{ratings['average']:g} ({ratings['count']})"))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print("Hours as median/80th percentile. quiet: went longer than the promise without an update; silent: "
          "internal work while the customer heard nothing; held: resolved by the first expected time.")
    if found["problems"]:
        print("Problems with the most affected customers:")
        for problem in found["problems"]:
            title = problem["public_title"] or problem["title"]
            print(f"  {problem['problem']}  {problem['customers']} customer(s), {problem['cases']} case(s), "
                  f"{problem['open']} open  {title}".rstrip())


def spread(hours: dict[str, Any]) -> str:
    if hours["median"] is None:
        return "-"
    return f"{hours['median']:g}/{hours['p80']:g}"


async def forget_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    done = await erasure.forget(store, args.tenant, args.email)
    print(f"Erased: {done.cases} case(s) and their {done.events} event(s) without that person's details, "
          f"{done.subscribers} subscription(s) and {done.deliveries} mail(s) removed.")


def run_backup(settings: Settings, args: argparse.Namespace) -> int:
    print(f"Backed up {backup.backup(settings.database_url, Path(args.file))}.")
    return 0


def run_restore(settings: Settings, args: argparse.Namespace) -> int:
    print(f"Restored {backup.restore(settings.database_url, Path(args.file), force=args.force)}.")
    return 0


def print_delivery(d: Delivery) -> None:
    when = d.created_at.strftime("%Y-%m-%d %H:%M:%S")
    error = f"  {d.last_error}" if d.last_error and d.status != "delivered" else ""
    print(f"{d.id:>6}  {when}  {d.status:<9}  {d.attempts} tries  {d.kind:<18}  {d.event_type}{error}")


async def apikey_add_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    key = await apikeys.add_key(store, args.tenant, args.name)
    print(f"API key {args.name!r} for tenant '{args.tenant}'. It is shown only now: store it in your automation's "
          f"secrets and send it as 'Authorization: Bearer KEY' to {settings.base_url}/api/v1/ "
          f"(revoke it with: tracker apikey revoke {args.tenant} {args.name}).")
    print(key)


async def apikey_list_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    for key in await store.list_api_keys(args.tenant):
        made = key.created_at.strftime("%Y-%m-%d %H:%M")
        state = "active" if key.revoked_at is None else "revoked " + key.revoked_at.strftime("%Y-%m-%d %H:%M")
        print(f"{key.name:<24}  made {made}  {state}")


async def apikey_revoke_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    await admin.require_tenant(store, args.tenant)
    await apikeys.revoke_key(store, args.tenant, args.name, settings.clock().now())
    print(f"API key {args.name!r} of tenant '{args.tenant}' is revoked: requests with it now answer 401.")


async def console_add_command(settings: Settings, store: Store, args: argparse.Namespace) -> None:
    account, token = await accounts.add_account(store, settings.clock(), args.tenant, args.email)
    print(f"{account.email} may sign in to the console of '{account.tenant}' at {settings.base_url}/admin once "
          f"they have chosen a password at this link, which works once and for {accounts.SETUP_DAYS} days "
          f"(run this again for a new one, e.g. to reset a forgotten password):")
    print(accounts.setup_url(settings.base_url, token))


def settings_command(settings: Settings, args: argparse.Namespace) -> int:
    shown = settings.masked()
    for setting in SETTINGS:
        print(f"{variable(setting)}={shown[setting.name]}")
    return 0


MAX_LISTED = 1000  # deliveries read to find a tenant's mails among them


def tune_gc() -> None:
    """Tens of thousands of open streams make CPython's default collection thresholds stop the
    world for a second every few events; collect the young generation far less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


SHUTDOWN_SECONDS = 10  # the longest a SIGTERM waits for the webhooks in flight


def run_serve(settings: Settings, args: argparse.Namespace) -> int:

    from tracker.app import create_app
    from tracker.serving import GracefulServer, server_config

    tune_gc()
    logs.configure(settings.log_format)  # uvicorn's loggers too (log_config=None leaves them to us)
    GracefulServer(server_config(create_app(settings), settings.host, settings.port, backlog=4096,
                                 timeout_graceful_shutdown=SHUTDOWN_SECONDS, log_config=None,
                                 access_log=False)).run()
    return 0


def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from tracker.migrate import migrate

    source_url = args.from_url or args.source_url
    if source_url is None or (args.from_url and args.source_url and args.from_url != args.source_url):
        raise ConfigError("Name one database to copy from: tracker migrate --from sqlite:///tracker.db")
    copied = migrate(source_url, settings.database_url, settings.clock())
    print(f"Copied {copied} from {source_url}.")
    return 0


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    from tracker.demo import run

    asyncio.run(run(settings, args.interval_seconds))
    return 0
