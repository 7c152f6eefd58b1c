"""The order api's ReviewService: rule sets, decisions and replays (services.order.review)."""
from __future__ import annotations

from datetime import datetime

from hubapi.order.v1 import review_service_pb2 as pb
from hubapi.order.v1 import review_service_pb2_grpc as pb_grpc
from hubkit import grpc_server
from hubkit.db import Database, UnitOfWork
from hubkit.errors import InvalidArgument
from services.order import review

rpc = grpc_server.rpc("order")


def _moment(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or not 1900 <= moment.year <= 2999:
        raise InvalidArgument("the window is invalid",
                              [{"field": name, "message": "an ISO 8601 moment with its offset, 1900..2999"}])
    return moment


def _version(v: dict) -> pb.RuleSetVersion:
    return pb.RuleSetVersion(**v)


class ReviewServicer(pb_grpc.ReviewServiceServicer):
    def __init__(self, db: Database):
        self.db = db

    @rpc
    def ValidateRuleSet(self, request, context):
        rule_set = review.compile_document(request.document)
        return pb.ValidateRuleSetResponse(name=rule_set.doc.name, rules=len(rule_set.rules))

    @rpc
    def ApplyRuleSet(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            return _version(review.apply_rule_set(uow, request.document, request.note))

    @rpc
    def ListRuleSets(self, request, context):
        return pb.ListRuleSetsResponse(versions=[_version(v) for v in review.rule_set_versions(self.db)])

    @rpc
    def RollBackRuleSet(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            return _version(review.roll_back(uow, request.version))

    @rpc
    def ListDecisions(self, request, context):
        return pb.ListDecisionsResponse(decisions=[pb.Decision(**d) for d in review.decisions(self.db, request.order_id)])

    @rpc
    def ReplayRuleSet(self, request, context):
        result = review.replay(self.db, request.document, _moment("since", request.since),
                               _moment("until", request.until), request.limit)
        return pb.ReplayRuleSetResponse(
            evaluated=result["evaluated"], changed=result["changed"],
            differences=[pb.ReplayDifference(order_id=d["order_id"], decided_at=d["decided_at"],
                                             was=pb.Outcome(**d["was"]), would=pb.Outcome(**d["would"]))
                         for d in result["differences"]])


def register(server, db: Database) -> None:
    pb_grpc.add_ReviewServiceServicer_to_server(ReviewServicer(db), server)
