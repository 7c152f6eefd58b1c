"""`hub`: the command-line tool of the commerce hub."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _settings():
    from hubkit import settings
    return settings.load()


def cmd_migrate(args) -> None:
    from hubkit import broker, migrations
    s = _settings()
    migrated = migrations.upgrade_all(s)
    broker.ensure_running(s.amqp_uri)
    broker.declare_topology(s.amqp_uri)
    print(f"migrated {', '.join(migrated)}; broker topology declared")


def cmd_api(args) -> None:
    import importlib
    from hubkit import logging as hublog, metrics
    s = _settings()
    hublog.setup(f"{args.service}-api", s.log_level)
    metrics.serve(s.metrics_port)
    importlib.import_module(f"services.{args.service}.grpc_server").main(s)


def cmd_worker(args) -> None:
    # eventlet must patch before anything else is imported: a fresh interpreter
    os.execv(sys.executable, [sys.executable, "-m", "hubkit.worker", args.service])


def cmd_relay(args) -> None:
    from hubkit import relay
    relay.main(args.service)


def cmd_gateway(args) -> None:
    from gateway import app
    from hubkit import logging as hublog
    s = _settings()
    hublog.setup("gateway", s.log_level)
    app.main(s)


def cmd_up(args) -> None:
    from hubkit import supervisor
    supervisor.run_up()


def cmd_demo(args) -> None:
    from hubkit import demo
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
    from hubkit import dlq
    letters = dlq.list_dead_letters(_settings().amqp_uri, args.queue)
    if args.json:
        print(json.dumps(letters, indent=2, default=str))
        return
    if not letters:
        print("no dead letters")
    for d in letters:
        print(f"{d['queue']}  {d.get('type')}  {d.get('event_id')}  attempts={d['attempts']}\n    {d['error']}")


def cmd_dlq_replay(args) -> None:
    from hubkit import dlq
    n = dlq.replay(_settings().amqp_uri, args.queue, args.event_id)
    print(f"replayed {n} dead letter(s)")


def cmd_import_opening(args) -> None:
    """Opening balances from a CSV file (account,debit,credit[,aux]) as one voucher, through the api."""
    import csv

    import grpc

    from hubapi.accounting.v1 import accounting_service_pb2 as acc
    from hubapi.accounting.v1 import accounting_service_pb2_grpc as acc_grpc
    with open(args.file, newline="", encoding="utf-8-sig") as f:
        rows = [acc.OpeningBalance(account=r["account"].strip(), debit=(r.get("debit") or "0").strip(),
                                   credit=(r.get("credit") or "0").strip(), aux=(r.get("aux") or "").strip())
                for r in csv.DictReader(f)]
    with grpc.insecure_channel(_settings().grpc_target("accounting")) as channel:
        try:
            reply = acc_grpc.AccountingServiceStub(channel).ImportOpeningBalances(
                acc.ImportOpeningBalancesRequest(business_date=args.date, lines=rows),
                metadata=[("x-hub-actor", args.user)], timeout=30)
        except grpc.RpcError as exc:
            details = dict(exc.trailing_metadata() or ()).get("x-hub-field-errors", "")
            raise SystemExit(f"refused: {exc.details()} {details}".strip())
    print(f"opening balances posted as {reply.voucher.number}: {len(rows)} lines, total {reply.voucher.total}")


def _shop_connector(platform: str):
    """A connector of one platform, for the commands (the same code the process runs)."""
    from connectors.shops import config as shop_config
    from connectors.shops import store
    from connectors.shops.jd import JdClient
    from connectors.shops.runner import ShopConnector, TokenStore
    from connectors.shops.taobao import TaobaoClient
    from hubkit.db import Database
    s = _settings()
    cfg, shops, skus = shop_config.load(s.shops_file)[platform]
    db = Database(s.shops_db_url, store.metadata)
    return ShopConnector(s, platform, {"taobao": TaobaoClient, "jd": JdClient}[platform](cfg, TokenStore(db)),
                         shops, skus, db)


def cmd_connectors_run(args) -> None:
    from connectors.shops import runner
    runner.main(args.platform)


def cmd_connectors_status(args) -> None:
    from datetime import datetime, timezone

    from sqlalchemy import func, select

    from connectors.shops import store
    from hubkit.db import Database, as_utc
    db = Database(_settings().shops_db_url, store.metadata)
    x = store.exceptions
    with db.reader() as s:
        rows = s.execute(select(store.shops).order_by(store.shops.c.platform, store.shops.c.shop)).all()
        held = dict(((r.platform, r.shop), r.n) for r in s.execute(
            select(x.c.platform, x.c.shop, func.count().label("n")).where(x.c.status == "open")
            .group_by(x.c.platform, x.c.shop)).all())
        sp, sh = store.stock_pushes, store.shipments
        owed_stock = dict(((r.platform, r.shop), (r.n, r.failing)) for r in s.execute(
            select(sp.c.platform, sp.c.shop, func.count().label("n"),
                   func.count(sp.c.last_error).label("failing"))
            .where(sp.c.version > sp.c.pushed_version).group_by(sp.c.platform, sp.c.shop)).all())
        owed_shipments = dict(((r.platform, r.shop), (r.n, r.failing)) for r in s.execute(
            select(sh.c.platform, sh.c.shop, func.count().label("n"), func.count(sh.c.last_error).label("failing"))
            .where(sh.c.status == "pending").group_by(sh.c.platform, sh.c.shop)).all())
    now = datetime.now(timezone.utc)
    for r in rows:
        lag = (now - as_utc(r.watermark)).total_seconds()
        state = f"ERROR since {as_utc(r.error_since):%H:%M:%S}: {r.last_error}" if r.error_since else "ok"
        print(f"{r.platform:7s} {r.shop:14s} watermark {as_utc(r.watermark):%Y-%m-%d %H:%M:%S}Z lag {lag:6.0f}s "
              f"published {r.orders_published} duplicates {r.duplicates_suppressed} retries {r.retries} "
              f"exceptions {held.get((r.platform, r.shop), 0)} "
              f"stock pushes owed {owed_stock.get((r.platform, r.shop), (0, 0))[0]} "
              f"(failing {owed_stock.get((r.platform, r.shop), (0, 0))[1]}) "
              f"shipments owed {owed_shipments.get((r.platform, r.shop), (0, 0))[0]} "
              f"(failing {owed_shipments.get((r.platform, r.shop), (0, 0))[1]})  {state}")


def cmd_connectors_repull(args) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    connector = _shop_connector(args.platform)
    tz = ZoneInfo("Asia/Shanghai")  # the platforms speak Shanghai local time
    start = datetime.fromisoformat(args.start).replace(tzinfo=tz)
    end = datetime.fromisoformat(args.end).replace(tzinfo=tz)
    if args.shop not in connector.shops:
        raise SystemExit(f"unknown shop {args.shop!r} for {args.platform}")
    print(json.dumps(connector.pull(connector.shops[args.shop], start, end)))


def cmd_connectors_map_sku(args) -> None:
    from connectors.shops import core, store
    from hubkit.db import dialect_insert
    components = []
    for item in args.components:
        sku, _, qty = item.partition("*")
        components.append({"sku": sku, "quantity": int(qty or 1)})
    connector = _shop_connector(args.platform)
    with connector.db.session() as s:
        s.execute(dialect_insert(s, store.sku_mappings).values(
            platform=args.platform, outer_sku=args.outer_sku, components=core.components_json(components))
            .on_conflict_do_update(index_elements=["platform", "outer_sku"],
                                   set_={"components": core.components_json(components)}))
    print(f"{args.platform} {args.outer_sku} -> {components}; re-drove {connector.redrive()} held order(s)")


def cmd_connectors_exceptions(args) -> None:
    from sqlalchemy import select

    from connectors.shops import store
    from hubkit.db import Database
    x = store.exceptions
    with Database(_settings().shops_db_url, store.metadata).reader() as s:
        for r in s.execute(select(x).where(x.c.status == "open").order_by(x.c.created_at)).all():
            print(f"{r.platform} {r.shop} {r.external_order_id} {r.reason}: {r.detail}")


def cmd_ledger_run(args) -> None:
    from connectors.ledgers import runner
    runner.main()


def cmd_ledger_reconcile(args) -> None:
    from connectors.ledgers import config as ledger_config
    from connectors.ledgers import reconcile
    s = _settings()
    ledgers = [args.ledger] if args.ledger else list(s.ledgers)
    if not ledgers:
        raise SystemExit("no ledger configured: set HUB_LEDGERS or pass --ledger")
    configs = ledger_config.load(ledgers)
    reports = [reconcile.reconcile(s, ledger, configs[ledger], args.period) for ledger in ledgers]
    if args.json:
        print(json.dumps(reports, indent=2, ensure_ascii=False))
    for r in reports if not args.json else []:
        verdict = "no difference" if r["matches"] else "DIFFERENCES"
        print(f"{r['ledger']} {r['period']}: hub {r['hub_vouchers']} vouchers, ledger {r['ledger_vouchers']}: {verdict}")
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
    from connectors.ledgers import pusher, store
    from hubkit.db import Database
    s = _settings()
    db = Database(s.ledger_db_url, store.metadata)
    for ledger in s.ledgers:
        st = pusher.status(db, ledger)
        print(f"{ledger}: {st['confirmed']} confirmed, {st['pending'] + st['pushing']} waiting "
              f"(oldest {st['oldest_unposted_seconds']:.0f}s), {st['rejected']} rejected, "
              f"{st['duplicate_pushes']} duplicate push attempts")


def parser() -> argparse.ArgumentParser:
    from hubkit.settings import SERVICES
    p = argparse.ArgumentParser(prog="hub", description="The commerce hub.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="migrate every database and declare the broker topology").set_defaults(func=cmd_migrate)
    for name, func, helptext in (("api", cmd_api, "run a service's gRPC api process"),
                                 ("worker", cmd_worker, "run a service's nameko worker"),
                                 ("relay", cmd_relay, "run a service's outbox relay")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("service", choices=SERVICES)
        sp.set_defaults(func=func)
    sub.add_parser("gateway", help="run the HTTP gateway").set_defaults(func=cmd_gateway)
    sub.add_parser("up", help="start every process of the embedded default; Ctrl-C stops them").set_defaults(func=cmd_up)
    demo = sub.add_parser("demo", help="start the hub, buy, sell and ship through it, print what happened")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=cmd_demo)
    users = sub.add_parser("users", help="API users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="create a user and print their API key")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("warehouse", "sales", "purchasing", "finance", "admin"))
    add.set_defaults(func=cmd_users_add)
    accounting = sub.add_parser("accounting", help="the books").add_subparsers(dest="accounting_command",
                                                                              required=True)
    opening = accounting.add_parser("import-opening", help="post opening balances from a CSV file "
                                                           "(account,debit,credit,aux)")
    opening.add_argument("file")
    opening.add_argument("--date", required=True, help="YYYY-MM-DD, the day the balances stand at")
    opening.add_argument("--user", default=os.environ.get("USER", "cli"), help="recorded as who posted them")
    opening.set_defaults(func=cmd_import_opening)
    conn = sub.add_parser("connectors", help="the shop connectors (HUB_SHOPS_FILE)").add_subparsers(
        dest="connectors_command", required=True)
    run = conn.add_parser("run", help="run the connector of one platform")
    run.add_argument("--platform", required=True, choices=("taobao", "jd"))
    run.set_defaults(func=cmd_connectors_run)
    conn.add_parser("status", help="per shop: watermark, lag, last error, retries, exceptions").set_defaults(
        func=cmd_connectors_status)
    rep = conn.add_parser("repull", help="pull one shop's orders modified in a window again (Shanghai time)")
    rep.add_argument("--platform", required=True, choices=("taobao", "jd"))
    rep.add_argument("--shop", required=True)
    rep.add_argument("--from", dest="start", required=True, help="YYYY-MM-DDTHH:MM:SS")
    rep.add_argument("--to", dest="end", required=True, help="YYYY-MM-DDTHH:MM:SS")
    rep.set_defaults(func=cmd_connectors_repull)
    mp = conn.add_parser("map-sku", help="map a platform SKU to hub SKUs (SKU*qty for a combination) and "
                                         "re-drive the orders held for it")
    mp.add_argument("--platform", required=True, choices=("taobao", "jd"))
    mp.add_argument("outer_sku")
    mp.add_argument("components", nargs="+", help="hub SKU, or SKU*quantity per unit")
    mp.set_defaults(func=cmd_connectors_map_sku)
    conn.add_parser("exceptions", help="orders held: unmapped SKU, unparseable address, amount mismatch").set_defaults(
        func=cmd_connectors_exceptions)
    ledger = sub.add_parser("ledger", help="the external ledgers (HUB_LEDGERS)").add_subparsers(
        dest="ledger_command", required=True)
    ledger.add_parser("run", help="run the ledger connector").set_defaults(func=cmd_ledger_run)
    ledger.add_parser("status", help="vouchers confirmed, waiting and rejected per ledger").set_defaults(
        func=cmd_ledger_status)
    rec = ledger.add_parser("reconcile", help="compare the hub's vouchers with the ledger's, per account")
    rec.add_argument("--period", required=True, help="YYYY-MM")
    rec.add_argument("--ledger", choices=("kingdee", "ufida"))
    rec.add_argument("--json", action="store_true")
    rec.set_defaults(func=cmd_ledger_reconcile)
    fronts = sub.add_parser("storefronts", help="storefronts that push orders by webhook").add_subparsers(
        dest="storefronts_command", required=True)
    add_front = fronts.add_parser("add", help="register a storefront and print its webhook secret")
    add_front.add_argument("name")
    add_front.set_defaults(func=cmd_storefronts_add)
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
