"""Clients of the components' own gRPC APIs, for the operational commands and the demo: they
never reach into a component's tables. grpc is imported by the call that needs it: every process
of the hub starts through `hub.cli`, and most need no gRPC client (a relay none at all)."""
from __future__ import annotations

from hub import components


def _call(target: str, stub_class, method: str, request, actor: str = "cli", metadata=()):
    """One call to a component's gRPC API; a refusal or an absent process is a one-line error."""
    import grpc
    with grpc.insecure_channel(target) as channel:
        try:
            return getattr(stub_class(channel), method)(request, metadata=[("x-hub-actor", actor), *metadata],
                                                        timeout=150)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise SystemExit(f"error: nothing answers at {target}: is the process running (hub up)?")
            details = dict(exc.trailing_metadata() or ()).get("x-hub-field-errors", "")
            raise SystemExit(f"refused: {exc.details()} {details}".strip())


def shops(platform: str, method: str, request):
    from hubapi.shops.v1 import shop_service_pb2_grpc as pb_grpc
    return _call(components.settings().shops_grpc_targets[platform], pb_grpc.ShopConnectorServiceStub, method, request)


def accounting(method: str, request, actor: str = "cli"):
    from hubapi.accounting.v1 import accounting_service_pb2_grpc as pb_grpc
    return _call(components.settings().grpc_target("accounting"), pb_grpc.AccountingServiceStub, method, request,
                 actor)


def inventory(method: str, request, actor: str = "cli"):
    from hubapi.inventory.v1 import inventory_service_pb2_grpc as pb_grpc
    return _call(components.settings().grpc_target("inventory"), pb_grpc.InventoryServiceStub, method, request, actor)


def order(method: str, request, actor: str = "cli"):
    from hubapi.order.v1 import order_service_pb2_grpc as pb_grpc
    return _call(components.settings().grpc_target("order"), pb_grpc.OrderServiceStub, method, request, actor)


def review(method: str, request, actor: str = "cli"):
    from hubapi.order.v1 import review_service_pb2_grpc as pb_grpc
    return _call(components.settings().grpc_target("order"), pb_grpc.ReviewServiceStub, method, request, actor)


def procurement(method: str, request, actor: str = "cli"):
    from hubapi.procurement.v1 import procurement_service_pb2_grpc as pb_grpc
    return _call(components.settings().grpc_target("procurement"), pb_grpc.ProcurementServiceStub, method, request,
                 actor)


class _Stub:
    """A component's API called like a gRPC stub (`api.GetStockValue(request, metadata=...)`), each
    call through _call."""

    def __init__(self, call):
        self._call = call

    def __getattr__(self, method: str):
        return lambda request, metadata=None: self._call(method, request)


def import_stubs(actor: str):
    """The services an import applies through (gateway.areas.imports.engine), as stubs that pass on
    the metadata it adds (the import's command id) and act as `actor`."""
    from types import SimpleNamespace

    from hubapi.customer.v1 import customer_service_pb2_grpc as cus_grpc
    from hubapi.inventory.v1 import inventory_service_pb2_grpc as inv_grpc
    from hubapi.order.v1 import order_service_pb2_grpc as ord_grpc
    from hubapi.procurement.v1 import procurement_service_pb2_grpc as pro_grpc
    from hubapi.shops.v1 import shop_service_pb2_grpc as shp_grpc
    s = components.settings()

    class _Passing:
        def __init__(self, target, stub_class):
            self._target, self._stub_class = target, stub_class

        def __getattr__(self, method: str):
            def call(request, metadata=(), timeout=None):
                extra = [(k, v) for k, v in metadata if k != "x-hub-actor"]
                return _call(self._target, self._stub_class, method, request, actor, extra)
            return call
    return SimpleNamespace(inventory=_Passing(s.grpc_target("inventory"), inv_grpc.InventoryServiceStub),
                           procurement=_Passing(s.grpc_target("procurement"), pro_grpc.ProcurementServiceStub),
                           customer=_Passing(s.grpc_target("customer"), cus_grpc.CustomerServiceStub),
                           order=_Passing(s.grpc_target("order"), ord_grpc.OrderServiceStub),
                           shops={p: _Passing(t, shp_grpc.ShopConnectorServiceStub)
                                  for p, t in s.shops_grpc_targets.items()})


def books_audit() -> dict:
    """The gateway's books audit (the books against the stock and the documents), asked from here."""
    from types import SimpleNamespace

    from gateway.areas.audit import books
    return books.audit(SimpleNamespace(inventory=_Stub(inventory), accounting=_Stub(accounting),
                                       procurement=_Stub(procurement), order=_Stub(order)), [])


def ledger(method: str, request):
    from hubapi.ledger.v1 import ledger_service_pb2_grpc as pb_grpc
    return _call(components.settings().ledger_grpc_target, pb_grpc.LedgerServiceStub, method, request)


def reconcile_report(ledger_name: str, period: str) -> dict:
    """The ledger connector's reconciliation of one ledger and period, as a plain dict."""
    from hubapi.ledger.v1 import ledger_service_pb2 as pb
    r = ledger("Reconcile", pb.ReconcileRequest(ledger=ledger_name, period=period))
    return {"ledger": r.ledger, "period": r.period, "basis": r.basis, "note": r.note,
            "hub_vouchers": r.hub_vouchers, "ledger_vouchers": r.ledger_vouchers,
            "account_differences": [{f: getattr(a, f) for f in ("account", "hub_debit", "hub_credit", "ledger_debit",
                                                                "ledger_credit")} for a in r.account_differences],
            "missing_in_ledger": list(r.missing_in_ledger), "duplicated_in_ledger": list(r.duplicated_in_ledger),
            "unknown_to_hub": list(r.unknown_to_hub), "matches": r.matches}
