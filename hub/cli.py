"""`hub`: the command-line tool of the commerce hub."""
from __future__ import annotations

import argparse
import json
import os
import sys

from hub import apis


def _settings():
    """Every component's settings (the operator commands read several)."""
    from hub import components
    return components.settings()


def cmd_migrate(args) -> None:
    from hub import components
    s = _settings()
    migrated = components.migrate_all(s)
    print(f"migrated {', '.join(migrated)}; {components.prepare_broker(s)}")
    from hubkit.db import upkeep_warnings
    for warning in upkeep_warnings(components.database_urls(s).values()):
        print(f"warning: {warning}", file=sys.stderr)


def cmd_api(args) -> None:
    from hub import components
    from hubkit import logging as hublog
    from hubkit import metrics
    s = components.load(args.service)
    hublog.setup(f"{args.service}-api", s.log_level)
    metrics.serve(s.metrics_port)
    components.api_main(args.service)(s)


def cmd_worker(args) -> None:
    # eventlet must patch before anything else is imported: a fresh interpreter
    os.execv(sys.executable, [sys.executable, "-m", "hub.worker", args.service])


def cmd_relay(args) -> None:
    from hub import components
    from hubkit import relay
    services = list(dict.fromkeys(args.services))
    relay.main([(svc, components.metadata(svc), components.relay_settings(svc)) for svc in services],
               unconsumed=components.unconsumed_events(_settings()))


def cmd_gateway(args) -> None:
    from gateway import app
    from hub import components
    from hubkit import logging as hublog
    s = components.load("gateway")
    hublog.setup("gateway", s.log_level)
    app.main(s)


def cmd_up(args) -> None:
    from hub import supervisor
    supervisor.run_up()


def cmd_status(args) -> None:
    from hub import supervisor
    status = supervisor.read_status(_settings().var_dir / supervisor.STATUS_FILE)
    if status is None:
        raise SystemExit("the hub is not running here (no live `hub up` for this HUB_VAR_DIR)")
    print(f"hub up (pid {status['supervisor']}):")
    for p in status["processes"]:
        state = "running" if p["running"] else "waiting to restart"
        print(f"  {p['name']:18s} pid {p['pid'] or '-':<7} {state:18s} restarts {p['restarts']}")


def cmd_demo(args) -> None:
    from hub import demo
    demo.run_demo(as_json=args.json)


def cmd_users_add(args) -> None:
    from gateway import auth
    from gateway.models import metadata
    from hubkit.db import Database
    from hubkit.errors import HubError
    try:
        key = auth.add_user(Database(_settings().gateway_db_url, metadata), args.name, args.role)
    except HubError as exc:
        raise SystemExit(f"error: {exc.message}")
    print(f"user {args.name} ({args.role}) created; API key (shown once):\n{key}")


def cmd_users_revoke(args) -> None:
    from gateway import auth
    from gateway.models import metadata
    from hubkit.db import Database
    from hubkit.errors import HubError
    try:
        auth.revoke_user(Database(_settings().gateway_db_url, metadata), args.name)
    except HubError as exc:
        raise SystemExit(f"error: {exc.message}")
    print(f"user {args.name}: API key revoked")


def cmd_storefronts_add(args) -> None:
    from gateway import webhooks
    from gateway.models import metadata
    from hubkit.db import Database
    from hubkit.errors import HubError
    try:
        secret = webhooks.add_storefront(Database(_settings().gateway_db_url, metadata), args.name)
    except HubError as exc:
        raise SystemExit(f"error: {exc.message}")
    print(f"storefront {args.name} registered; webhook secret (shown once):\n{secret}")


def cmd_dlq_list(args) -> None:
    from hub import components
    from hubkit import dlq
    s = _settings()
    letters = dlq.list_dead_letters(s.amqp_uri, components.configured_subscriptions(s), args.queue)
    if args.json:
        print(json.dumps(letters, indent=2, default=str))
        return
    if not letters:
        print("no dead letters")
    for d in letters:
        print(f"{d['queue']}  {d.get('type')}  {d.get('event_id')}  attempts={d['attempts']}\n    {d['error']}")


def cmd_dlq_replay(args) -> None:
    from hub import components
    from hubkit import dlq
    s = _settings()
    n = dlq.replay(s.amqp_uri, components.configured_subscriptions(s), args.queue, args.event_id)
    print(f"replayed {n} dead letter(s)")


def cmd_import_opening(args) -> None:
    """Opening balances from a CSV file (account,debit,credit[,aux]) as one voucher, through the api."""
    import csv

    from hubapi.accounting.v1 import accounting_service_pb2 as acc
    with open(args.file, newline="", encoding="utf-8-sig") as f:
        rows = [acc.OpeningBalance(account=r["account"].strip(), debit=(r.get("debit") or "0").strip(),
                                   credit=(r.get("credit") or "0").strip(), aux=(r.get("aux") or "").strip())
                for r in csv.DictReader(f)]
    reply = apis.accounting("ImportOpeningBalances", acc.ImportOpeningBalancesRequest(business_date=args.date,
                                                                                     lines=rows), actor=args.user)
    print(f"opening balances posted as {reply.voucher.number}: {len(rows)} lines, total {reply.voucher.total}")


def cmd_import_rates(args) -> None:
    """Exchange rates from a CSV file (currency,date,rate: units of the books' currency per unit), all or none."""
    import csv

    from hubapi.accounting.v1 import accounting_service_pb2 as acc
    with open(args.file, newline="", encoding="utf-8-sig") as f:
        rows = [acc.SetExchangeRateRequest(currency=(r.get("currency") or "").strip().upper(),
                                           valid_from=(r.get("date") or "").strip(), rate=(r.get("rate") or "").strip())
                for r in csv.DictReader(f)]
    reply = apis.accounting("ImportExchangeRates", acc.ImportExchangeRatesRequest(rates=rows), actor=args.user)
    print(f"{reply.imported} exchange rate(s) imported")


def cmd_import(args) -> None:
    """`hub import KIND FILE [--dry-run]`: check a spreadsheet row by row and apply it whole (exit 1
    with every problem, nothing written); `hub import template KIND`: the kind's template."""
    from gateway.areas.imports import engine
    from gateway.areas.imports.kinds import KINDS
    from hubkit.sheets import SheetError
    if args.kind == "template":
        kind = args.file
        if kind not in KINDS:
            raise SystemExit(f"error: unknown kind {kind!r}: one of {', '.join(KINDS)}")
        out = args.output or f"{kind}-template.{'csv' if args.csv else 'xlsx'}"
        with open(out, "wb") as f:
            f.write(engine.template_csv(kind) if args.csv else engine.template_xlsx(kind))
        print(f"template for {kind} written to {out}")
        return
    if args.kind not in KINDS:
        raise SystemExit(f"error: unknown kind {args.kind!r}: one of template, {', '.join(KINDS)}")
    import hashlib

    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    with open(args.file, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        f.seek(0)
        console = Console(stderr=True)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:>9,.0f} rows"),
                      TimeElapsedColumn(), console=console, transient=not console.is_terminal) as bar:
            task = bar.add_task("reading", total=None)
            try:
                outcome = engine.run(args.kind, f, digest, apis.import_stubs(args.user), [], args.dry_run,
                                     lambda stage, n: bar.update(task, description=stage, completed=n))
            except SheetError as exc:
                raise SystemExit(f"refused: {exc.message}" + "".join(f"\n  {p['field']}: {p['message']}"
                                                                     for p in exc.problems))
    if args.report:
        with open(args.report, "wb") as out:
            out.write(engine.report_xlsx(outcome))
    body = outcome.json()
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        for p in outcome.problems[:200]:
            print(f"row {p.row:>6}  {p.column:<14} {p.code:<22} {p.message}")
        if len(outcome.problems) > 200:
            print(f"... {len(outcome.problems) - 200} more (--report FILE.xlsx or --json for all)")
        verdict = ("already imported: nothing changed" if outcome.replayed
                   else f"{body['rows_with_errors']} row(s) with problems: nothing imported" if outcome.problems
                   else "valid (dry run: nothing imported)" if args.dry_run
                   else f"imported: {outcome.applied} changed, {outcome.unchanged} already so")
        print(f"{args.kind}: {body['rows']} rows, {verdict}")
    if outcome.problems:
        raise SystemExit(1)


def _platforms(args) -> list[str]:
    """The platform asked for, or every platform with shops in HUB_SHOPS_FILE."""
    from hub.supervisor import shop_platforms
    platforms = [args.platform] if getattr(args, "platform", None) else list(shop_platforms(_settings()))
    if not platforms:
        raise SystemExit("no shops configured: set HUB_SHOPS_FILE or pass --platform")
    return platforms


def cmd_connectors_run(args) -> None:
    from connectors.shops import runner
    from hub import components
    runner.main(args.platform, components.load("shops"))


def cmd_connectors_status(args) -> None:
    from hubapi.shops.v1 import shop_service_pb2 as pb
    for platform in _platforms(args):
        for r in apis.shops(platform, "GetStatus", pb.GetStatusRequest()).shops:
            state = f"ERROR since {r.error_since[11:19]}: {r.last_error}" if r.error_since else "ok"
            print(f"{r.platform:7s} {r.shop:14s} watermark {r.watermark[:19]}Z lag {r.lag_seconds:6.0f}s "
                  f"published {r.orders_published} duplicates {r.duplicates_suppressed} retries {r.retries} "
                  f"exceptions {r.open_exceptions} stock pushes owed {r.stock_pushes_owed} "
                  f"(failing {r.stock_pushes_failing}) shipments owed {r.shipments_owed} "
                  f"(failing {r.shipments_failing})  {state}")


def cmd_connectors_repull(args) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hubapi.shops.v1 import shop_service_pb2 as pb
    tz = ZoneInfo("Asia/Shanghai")  # the platforms speak Shanghai local time
    try:
        start, end = (datetime.fromisoformat(t).replace(tzinfo=tz).isoformat() for t in (args.start, args.end))
    except ValueError as exc:
        raise SystemExit(f"error: --from/--to: {exc}")
    r = apis.shops(args.platform, "Repull", pb.RepullRequest(shop=args.shop, start=start, end=end))
    print(json.dumps({"read": r.read, "published": r.published, "duplicates": r.duplicates, "held": r.held,
                      **({"error": r.error} if r.error else {})}))


def cmd_connectors_map_sku(args) -> None:
    from hubapi.shops.v1 import shop_service_pb2 as pb
    components = []
    for item in args.components:
        sku, _, qty = item.partition("*")
        try:
            components.append(pb.Component(sku=sku, quantity=int(qty or 1)))
        except ValueError:
            raise SystemExit(f"error: {item!r}: a quantity after * must be a whole number")
    reply = apis.shops(args.platform, "MapSku", pb.MapSkuRequest(outer_sku=args.outer_sku, components=components))
    mapped = ", ".join(f"{c.sku}*{c.quantity}" for c in reply.components)
    print(f"{args.platform} {reply.outer_sku} -> {mapped}; re-driving {reply.redrive_pending} held order(s)")


def cmd_connectors_exceptions(args) -> None:
    from hubapi.shops.v1 import shop_service_pb2 as pb
    for platform in _platforms(args):
        for r in apis.shops(platform, "ListExceptions", pb.ListExceptionsRequest(status="open")).exceptions:
            print(f"{r.platform} {r.shop} {r.external_order_id} {r.reason}: {r.detail}")


def cmd_ledger_run(args) -> None:
    from connectors.ledgers import runner
    from hub import components
    runner.main(components.load("ledger"))


def cmd_notify_run(args) -> None:
    from connectors.notify import runner
    from hub import components
    runner.main(components.load("notify"))


def cmd_ledger_reconcile(args) -> None:
    s = _settings()
    ledgers = [args.ledger] if args.ledger else list(s.ledgers)
    if not ledgers:
        raise SystemExit("no ledger configured: set HUB_LEDGERS or pass --ledger")
    reports = [apis.reconcile_report(ledger, args.period) for ledger in ledgers]
    if args.json:
        print(json.dumps(reports, indent=2, ensure_ascii=False))
    for r in reports if not args.json else []:
        verdict = "no difference" if r["matches"] else "DIFFERENCES"
        print(f"{r['ledger']} {r['period']}: hub {r['hub_vouchers']} vouchers, ledger {r['ledger_vouchers']}: {verdict}")
        if r["note"]:
            print(f"  note: {r['note']}")
        for a in r["account_differences"]:
            print(f"  account {a['account']}: hub Dr {a['hub_debit']} Cr {a['hub_credit']}, "
                  f"ledger Dr {a['ledger_debit']} Cr {a['ledger_credit']}")
        for key, label in (("missing_in_ledger", "missing in the ledger"), ("duplicated_in_ledger", "more than once"),
                           ("unknown_to_hub", "in the ledger but not in the hub")):
            if r[key]:
                print(f"  {label}: {', '.join(r[key][:20])}{' ...' if len(r[key]) > 20 else ''}")
    if not all(r["matches"] for r in reports):
        raise SystemExit(1)


def cmd_ledger_status(args) -> None:
    from hubapi.ledger.v1 import ledger_service_pb2 as pb
    for st in apis.ledger("GetStatus", pb.GetStatusRequest()).ledgers:
        print(f"{st.ledger}: {st.confirmed} confirmed, {st.pending + st.pushing} waiting "
              f"(oldest {st.oldest_unposted_seconds:.0f}s), {st.rejected} rejected, "
              f"{st.duplicate_pushes} duplicate push attempts")


def cmd_backup(args) -> None:
    from pathlib import Path

    from hub import backup
    from hubkit import clock
    s = _settings()
    dest = Path(args.to) if args.to else \
        s.var_dir / "backups" / f"hub-{clock.now().strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
    try:
        manifest = backup.backup(s, dest, drain_timeout=args.drain_timeout, calm=args.calm)
    except backup.BackupError as exc:
        raise SystemExit(f"error: {exc}")
    sizes = ", ".join(f"{n} {d['bytes'] // 1024} KiB" for n, d in manifest["databases"].items())
    print(f"backup written to {dest}: {sizes}")


def cmd_restore(args) -> None:
    from pathlib import Path

    from hub import backup
    try:
        manifest = backup.restore(_settings(), Path(args.archive), purge_queues=not args.keep_queues,
                                  check_only=args.check)
    except backup.BackupError as exc:
        raise SystemExit(f"error: {exc}")
    if args.check:
        print(f"{args.archive}: intact, {len(manifest['databases'])} databases of hub {manifest['hub_version']} "
              f"taken {manifest.get('drained_at')}; it fits this hub's databases")


def cmd_audit_books(args) -> None:
    found = apis.books_audit()
    parts = {part: [{k: (str(v) if v is not None and not isinstance(v, str) else v) for k, v in r.items()}
                    for r in found[part]] for part in ("inventory", "payables", "receivables")}
    if args.json:
        print(json.dumps(parts, indent=2))
    for r in parts["inventory"] if not args.json else []:
        print(f"{r['cost_centre']:<28} books {r['books']:>14}  stock {r['stock']:>14}  difference {r['difference']:>12}")
    for r in parts["payables"] + parts["receivables"] if not args.json else []:
        print(f"{r['account']} {r['counterparty']:<23} books {r['books']:>14}  documents {r['documents']:>10}  "
              f"difference {r['difference'] or 'not compared':>12}")
    if any(r["difference"] for part in ("inventory", "payables", "receivables") for r in found[part]):
        raise SystemExit(1)


def _rule_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise SystemExit(f"error: {path}: {exc.strerror}")


def _print_version(v) -> None:
    print(f"{'*' if v.in_force else ' '} v{v.version:<4} {v.name:<24} {v.rules:>3} rules  "
          f"{v.created_at[:19] or 'shipped':<19}  {v.created_by:<12} {v.note}")


def cmd_rules_validate(args) -> None:
    from hubapi.order.v1 import review_service_pb2 as pb
    r = apis.review("ValidateRuleSet", pb.RuleSetDocument(document=_rule_file(args.file)))
    print(f"valid: {r.name}, {r.rules} rules")


def cmd_rules_apply(args) -> None:
    from hubapi.order.v1 import review_service_pb2 as pb
    _print_version(apis.review("ApplyRuleSet", pb.RuleSetDocument(document=_rule_file(args.file), note=args.note),
                               actor=args.actor))


def cmd_rules_versions(args) -> None:
    from hubapi.order.v1 import review_service_pb2 as pb
    for v in apis.review("ListRuleSets", pb.ListRuleSetsRequest()).versions:
        _print_version(v)


def cmd_rules_rollback(args) -> None:
    from hubapi.order.v1 import review_service_pb2 as pb
    _print_version(apis.review("RollBackRuleSet", pb.RollBackRuleSetRequest(version=args.version), actor=args.actor))


def _print_chain(v) -> None:
    print(f"{'*' if v.in_force else ' '} v{v.version:<4} {v.name:<24} {v.steps:>3} steps  "
          f"{v.created_at[:19] or 'shipped':<19}  {v.created_by:<12} {v.note}")


def cmd_approvals_apply(args) -> None:
    from hubapi.procurement.v1 import procurement_service_pb2 as pb
    _print_chain(apis.procurement("ApplyApprovalChain", pb.ApprovalChainDocument(
        document=_rule_file(args.file), note=args.note), actor=args.actor))


def cmd_approvals_chains(args) -> None:
    from hubapi.procurement.v1 import procurement_service_pb2 as pb
    for v in apis.procurement("ListApprovalChains", pb.ListApprovalChainsRequest()).versions:
        _print_chain(v)


def cmd_approvals_waiting(args) -> None:
    from hubapi.procurement.v1 import procurement_service_pb2 as pb
    for st in apis.procurement("ListWaitingApprovals", pb.ListWaitingApprovalsRequest(limit=args.limit)).steps:
        who = f"role {st.role}" if st.role else f"user {st.user}"
        print(f"{st.opened_at[:19]}  {st.document_kind:<14} {st.document_id}  step {st.step_no} {st.step_id:<20} "
              f"{who:<24} {st.amount:>14}  by {st.requester}")


def cmd_rules_replay(args) -> None:
    from hubapi.order.v1 import review_service_pb2 as pb
    r = apis.review("ReplayRuleSet", pb.ReplayRuleSetRequest(document=_rule_file(args.file), since=args.since,
                                                             until=args.until, limit=args.limit))
    print(f"{r.evaluated} decisions evaluated, {r.changed} would change")
    for d in r.differences:
        print(f"  {d.order_id} {d.decided_at[:19]}  was {d.was.outcome} {d.was.reason or ''} "
              f"({d.was.rule or 'otherwise'}, v{d.was.rule_set_version})  would {d.would.outcome} "
              f"{d.would.reason or ''} ({d.would.rule or 'otherwise'})")


def cmd_orders_held(args) -> None:
    """The review queue: held orders (with an open hold of --reason), oldest first."""
    from hubapi.order.v1 import order_service_pb2 as pb
    found = apis.order("ListOrders", pb.ListOrdersRequest(status="held", reason=args.reason or "",
                                                          page_size=args.limit)).orders
    for o in found:
        open_ = [h for h in o.holds if not h.outcome]
        print(f"{o.id}  {o.channel}/{o.shop}/{o.external_order_id}  created {o.created_at}  "
              + "; ".join(f"{h.reason} by {h.placed_by} at {h.placed_at}{': ' + h.note if h.note else ''}"
                          for h in open_))
    if not found:
        print("no held orders")


def _order_action(method: str, request) -> None:
    o = apis.order(method, request, actor=f"cli:{os.environ.get('USER', 'operator')}").order
    print(f"{o.id}: {o.status}")


def cmd_orders_hold(args) -> None:
    """Hold orders by id, or those GET /orders lists with the filter (--status, --held-for, --merge-group),
    with one reason and note; each order gets its own line: held, or why not (it is then unchanged)."""
    from hubapi.order.v1 import order_service_pb2 as pb
    actor = f"cli:{os.environ.get('USER', 'operator')}"
    if bool(args.ids) == bool(args.status or args.held_for or args.merge_group):
        raise SystemExit("error: give order ids, or a filter (--status, --held-for, --merge-group), not both")
    ids = list(args.ids) or [o.id for o in apis.order("ListOrders", pb.ListOrdersRequest(
        status=args.status or "", reason=args.held_for or "", merge_group=args.merge_group or "",
        page_size=args.limit)).orders]
    reply = apis.order("HoldOrders", pb.HoldOrdersRequest(items=[
        pb.HoldOrderRequest(order_id=i, reason=args.reason, note=args.note) for i in ids]), actor=actor)
    for order_id, r in zip(ids, reply.results):
        print(f"{order_id}: {r.error.code.lower()}: {r.error.message}" if r.HasField("error")
              else f"{order_id}: {r.order.status} (hold {r.hold_id})")
    held = sum(1 for r in reply.results if not r.HasField("error"))
    print(f"{held} held, {len(ids) - held} refused")


def cmd_orders_release(args) -> None:
    from hubapi.order.v1 import order_service_pb2 as pb
    # the console is the machine's operator: it may close a finance hold as admin may
    _order_action("ReleaseHold", pb.ReleaseHoldRequest(order_id=args.id, hold_id=args.hold or "", note=args.note,
                                                       finance=True))


def cmd_orders_reject(args) -> None:
    from hubapi.order.v1 import order_service_pb2 as pb
    _order_action("RejectOrder", pb.RejectOrderRequest(order_id=args.id, note=args.note, finance=True))


def parser() -> argparse.ArgumentParser:
    from hub.components import PLATFORMS, SERVICES
    p = argparse.ArgumentParser(prog="hub", description="The commerce hub.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="migrate every database and declare the broker topology").set_defaults(func=cmd_migrate)
    for name, func, helptext in (("api", cmd_api, "run a service's gRPC api process"),
                                 ("worker", cmd_worker, "run a service's nameko worker")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("service", choices=SERVICES)
        sp.set_defaults(func=func)
    relay = sub.add_parser("relay", help="run the outbox relay of one service, or of several in one process "
                                         "(a thread each; `hub up` runs every service's in one)")
    relay.add_argument("services", nargs="+", choices=SERVICES, metavar="service")
    relay.set_defaults(func=cmd_relay)
    sub.add_parser("gateway", help="run the HTTP gateway").set_defaults(func=cmd_gateway)
    sub.add_parser("up", help="start every process of the embedded default, restart any that exits; Ctrl-C stops "
                              "them").set_defaults(func=cmd_up)
    sub.add_parser("status", help="each process of the running `hub up`, with its restarts").set_defaults(
        func=cmd_status)
    demo = sub.add_parser("demo", help="start the hub, buy, sell and ship through it, print what happened")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=cmd_demo)
    users = sub.add_parser("users", help="API users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="create a user and print their API key")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("warehouse", "sales", "purchasing", "finance", "admin",
                                                        "dept_manager", "finance_director"))
    add.set_defaults(func=cmd_users_add)
    revoke = users.add_parser("revoke", help="revoke a user's API key (refused from its next request on)")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_users_revoke)
    accounting = sub.add_parser("accounting", help="the books").add_subparsers(dest="accounting_command",
                                                                              required=True)
    imp = sub.add_parser("import", help="import a spreadsheet (xlsx or CSV): KIND FILE, or template KIND; kinds: "
                                        "skus, warehouses, bins, opening_stock, stock_limits, suppliers, customers, "
                                        "channel_sku_mappings, price_lists")
    imp.add_argument("kind", help="the kind of rows, or `template`")
    imp.add_argument("file", help="the file to import (or, after `template`, the kind)")
    imp.add_argument("--dry-run", action="store_true", help="check every row, change nothing")
    imp.add_argument("--report", help="write the sheet back with an errors column to this .xlsx file")
    imp.add_argument("--json", action="store_true", help="the report as JSON")
    imp.add_argument("--csv", action="store_true", help="template: CSV instead of xlsx")
    imp.add_argument("-o", "--output", help="template: where to write it")
    imp.add_argument("--user", default=os.environ.get("USER", "cli"), help="recorded as who imported it")
    imp.set_defaults(func=cmd_import)
    opening = accounting.add_parser("import-opening", help="post opening balances from a CSV file "
                                                           "(account,debit,credit,aux)")
    opening.add_argument("file")
    opening.add_argument("--date", required=True, help="YYYY-MM-DD, the day the balances stand at")
    opening.add_argument("--user", default=os.environ.get("USER", "cli"), help="recorded as who posted them")
    opening.set_defaults(func=cmd_import_opening)
    rates = accounting.add_parser("import-rates", help="exchange rates to the books' currency from a CSV file "
                                                       "(currency,date,rate)")
    rates.add_argument("file")
    rates.add_argument("--user", default=os.environ.get("USER", "cli"), help="recorded as who entered them")
    rates.set_defaults(func=cmd_import_rates)
    conn = sub.add_parser("connectors", help="the shop connectors (HUB_SHOPS_FILE)").add_subparsers(
        dest="connectors_command", required=True)
    run = conn.add_parser("run", help="run the connector of one platform")
    run.add_argument("--platform", required=True, choices=PLATFORMS)
    run.set_defaults(func=cmd_connectors_run)
    st = conn.add_parser("status", help="per shop: watermark, lag, last error, retries, exceptions")
    st.add_argument("--platform", choices=PLATFORMS, help="default: every platform in HUB_SHOPS_FILE")
    st.set_defaults(func=cmd_connectors_status)
    rep = conn.add_parser("repull", help="pull one shop's orders modified in a window again (Shanghai time)")
    rep.add_argument("--platform", required=True, choices=PLATFORMS)
    rep.add_argument("--shop", required=True)
    rep.add_argument("--from", dest="start", required=True, help="YYYY-MM-DDTHH:MM:SS")
    rep.add_argument("--to", dest="end", required=True, help="YYYY-MM-DDTHH:MM:SS")
    rep.set_defaults(func=cmd_connectors_repull)
    mp = conn.add_parser("map-sku", help="map a platform SKU to hub SKUs (SKU*qty for a combination) and "
                                         "re-drive the orders held for it")
    mp.add_argument("--platform", required=True, choices=PLATFORMS)
    mp.add_argument("outer_sku")
    mp.add_argument("components", nargs="+", help="hub SKU, or SKU*quantity per unit")
    mp.set_defaults(func=cmd_connectors_map_sku)
    ex = conn.add_parser("exceptions", help="orders held: unmapped SKU, unparseable address, amount mismatch")
    ex.add_argument("--platform", choices=PLATFORMS, help="default: every platform in HUB_SHOPS_FILE")
    ex.set_defaults(func=cmd_connectors_exceptions)
    ledger = sub.add_parser("ledger", help="the external ledgers (HUB_LEDGERS)").add_subparsers(
        dest="ledger_command", required=True)
    ledger.add_parser("run", help="run the ledger connector").set_defaults(func=cmd_ledger_run)
    ledger.add_parser("status", help="vouchers confirmed, waiting and rejected per ledger").set_defaults(
        func=cmd_ledger_status)
    notify = sub.add_parser("notify", help="the notifier (HUB_NOTIFY_FILE)").add_subparsers(
        dest="notify_command", required=True)
    notify.add_parser("run", help="run the notifier").set_defaults(func=cmd_notify_run)
    rec = ledger.add_parser("reconcile", help="compare the hub's vouchers with the ledger's, per account")
    rec.add_argument("--period", required=True, help="YYYY-MM")
    rec.add_argument("--ledger", choices=("kingdee", "ufida"))
    rec.add_argument("--json", action="store_true")
    rec.set_defaults(func=cmd_ledger_reconcile)
    audit = sub.add_parser("audit", help="audits across the services").add_subparsers(dest="audit_command",
                                                                                  required=True)
    books_audit = audit.add_parser("books", help="the inventory accounts per cost centre against the stock value, "
                                                 "the payable per supplier against the open purchase documents, "
                                                 "the receivable per debtor against the open sales "
                                                 "(exit 1 on a difference; run it when the hub is quiet)")
    books_audit.add_argument("--json", action="store_true")
    books_audit.set_defaults(func=cmd_audit_books)
    bk = sub.add_parser("backup", help="copy every database of the hub, running or not, into one archive with a "
                                      "manifest (relays paused and every published event applied first)")
    bk.add_argument("--to", help="the archive to write (default: HUB_VAR_DIR/backups/hub-<UTC time>.tar.gz)")
    bk.add_argument("--drain-timeout", type=float, default=60.0,
                    help="seconds to wait for the published events to be applied (default 60)")
    bk.add_argument("--calm", type=float, default=1.0,
                    help="seconds the queues stay empty and the inboxes still before the copy (default 1)")
    bk.set_defaults(func=cmd_backup)
    rs = sub.add_parser("restore", help="put every database back from a backup (the hub stopped), migrate to head "
                                        "and empty the hub's queues")
    rs.add_argument("archive")
    rs.add_argument("--check", action="store_true", help="only check the archive against this hub; change nothing")
    rs.add_argument("--keep-queues", action="store_true",
                    help="leave the broker alone (a new broker that holds nothing of the hub's)")
    rs.set_defaults(func=cmd_restore)
    fronts = sub.add_parser("storefronts", help="storefronts that push orders by webhook").add_subparsers(
        dest="storefronts_command", required=True)
    add_front = fronts.add_parser("add", help="register a storefront and print its webhook secret")
    add_front.add_argument("name")
    add_front.set_defaults(func=cmd_storefronts_add)
    approvals = sub.add_parser("approvals", help="procurement's approval chains (YAML or JSON files)").add_subparsers(
        dest="approvals_command", required=True)
    aa = approvals.add_parser("apply", help="put an approval chain in force as the next version")
    aa.add_argument("file")
    aa.add_argument("--note", default="")
    aa.add_argument("--actor", default="cli", help="who applies it (recorded)")
    aa.set_defaults(func=cmd_approvals_apply)
    approvals.add_parser("chains", help="every version, * in force (v0 the shipped default)").set_defaults(
        func=cmd_approvals_chains)
    aw = approvals.add_parser("waiting", help="the approval steps waiting now, the longest waiting first")
    aw.add_argument("--limit", type=int, default=100)
    aw.set_defaults(func=cmd_approvals_waiting)
    rules = sub.add_parser("rules", help="the order review rule set (YAML or JSON files)").add_subparsers(
        dest="rules_command", required=True)
    rv = rules.add_parser("validate", help="check a rule set: each rule, field and position at fault")
    rv.add_argument("file")
    rv.set_defaults(func=cmd_rules_validate)
    ra = rules.add_parser("apply", help="put a rule set in force as the next version")
    ra.add_argument("file")
    ra.add_argument("--note", default="")
    ra.add_argument("--actor", default="cli", help="who applies it (recorded)")
    ra.set_defaults(func=cmd_rules_apply)
    rules.add_parser("versions", help="every version, * in force (v0 the shipped default)").set_defaults(
        func=cmd_rules_versions)
    rb = rules.add_parser("rollback", help="put an earlier version in force again, as a new version")
    rb.add_argument("version", type=int)
    rb.add_argument("--actor", default="cli")
    rb.set_defaults(func=cmd_rules_rollback)
    rr = rules.add_parser("replay", help="evaluate a draft over past decisions; lists the outcomes that would change")
    rr.add_argument("file")
    rr.add_argument("--since", required=True, help="ISO 8601 moment with its offset")
    rr.add_argument("--until", required=True, help="ISO 8601 moment with its offset")
    rr.add_argument("--limit", type=int, default=100, help="differences listed (at most 1000)")
    rr.set_defaults(func=cmd_rules_replay)

    orders = sub.add_parser("orders", help="the review queue: held orders").add_subparsers(
        dest="orders_command", required=True)
    held = orders.add_parser("held", help="held orders, oldest first, with their open holds")
    held.add_argument("--reason", help="only orders with an open hold of this reason")
    held.add_argument("--limit", type=int, default=100)
    held.set_defaults(func=cmd_orders_held)
    hold = orders.add_parser("hold", help="hold orders (by id, or a filter) with one reason and note")
    hold.add_argument("ids", nargs="*", help="the orders; or use a filter")
    hold.add_argument("--status", help="filter: orders of this status")
    hold.add_argument("--held-for", help="filter: orders with an open hold of this reason")
    hold.add_argument("--merge-group", help="filter: the orders of this merge group")
    hold.add_argument("--limit", type=int, default=500, help="at most this many orders of the filter")
    hold.add_argument("--reason", default="manual", help="the hold's reason (one of the hold reasons)")
    hold.add_argument("--note", default="", help="why (audited)")
    hold.set_defaults(func=cmd_orders_hold)
    release = orders.add_parser("release", help="release an order's open holds (or one: --hold)")
    release.add_argument("id")
    release.add_argument("--hold")
    release.add_argument("--note", default="", help="why (audited)")
    release.set_defaults(func=cmd_orders_release)
    reject = orders.add_parser("reject", help="reject a held order: it is cancelled, its stock released")
    reject.add_argument("id")
    reject.add_argument("--note", default="", help="why (audited)")
    reject.set_defaults(func=cmd_orders_reject)
    dlq = sub.add_parser("dlq", help="dead letters").add_subparsers(dest="dlq_command", required=True)
    ls = dlq.add_parser("list", help="list dead letters with their errors")
    ls.add_argument("--queue")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_dlq_list)
    rp = dlq.add_parser("replay", help="re-drive dead letters into their queue")
    rp.add_argument("--queue")
    rp.add_argument("--event-id")
    rp.set_defaults(func=cmd_dlq_replay)
    return p


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
