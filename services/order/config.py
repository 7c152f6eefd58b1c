"""The order service's settings: its database, its gRPC port and its backpressure watermarks,
besides the common settings of every process (hubkit.settings.HubSettings)."""
from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, ValidationInfo, field_validator

from hubkit.intake import Watermarks
from hubkit.settings import HubSettings, NonNegativeInt, Port, loopback, sqlite_in_var_dir


class Settings(HubSettings):
    db_url: str = Field(default_factory=sqlite_in_var_dir("order"), validation_alias="HUB_ORDER_DB_URL")
    grpc_port: Port = Field(50051, validation_alias="HUB_ORDER_GRPC_PORT")
    # inventory's api, which the order service asks to move an order to another warehouse (MoveOrder)
    inventory_grpc_port: Port = 50052
    inventory_grpc_target: str = Field(default_factory=loopback("inventory_grpc_port"))
    inventory_timeout_seconds: PositiveFloat = 10.0
    # Backpressure (hubkit.intake): the hub is behind from this many orders accepted and not yet
    # answered by inventory on (0: never), and has caught up again at or below the low watermark
    intake_high_watermark: NonNegativeInt = 50
    intake_low_watermark: NonNegativeInt = 25
    intake_refresh_seconds: PositiveFloat = 0.5  # the orders are counted at most this often
    intake_retry_after_max_seconds: PositiveInt = 30
    # Merge (services.order.merge): orders of one buyer to one address from one shop placed within this
    # many minutes of each other ship as one; off with HUB_ORDER_MERGE=false or a window of 0
    merge: bool = Field(True, validation_alias="HUB_ORDER_MERGE")
    merge_window_minutes: NonNegativeInt = Field(30, validation_alias="HUB_ORDER_MERGE_WINDOW_MINUTES")
    # Review (services.order.review) after inventory answered the reservation (the stock is reserved on
    # arrival, review decides whether it goes to the warehouse), or before it: a new order is reviewed when
    # placed and asks inventory to reserve only once approved or released (services.order.reservation)
    review_stage: Literal["after_reservation", "before_reservation"] = Field(
        "after_reservation", validation_alias="HUB_ORDER_REVIEW_STAGE")
    # Review's exposure: the books' account whose `customer:` lines say what a buyer owes (accounting's
    # `receivable`, HUB_ACCOUNTING_ACCOUNTS; the chart's 1122 by default)
    receivable_account: str = Field("1122", validation_alias="HUB_ORDER_RECEIVABLE_ACCOUNT")

    # The carrier's electronic waybill API (services.order.waybills, a Cainiao-style TOP router): off while
    # HUB_CARRIER_URL is empty (POST /orders/{id}/waybill then answers 409)
    carrier_url: str = Field("", validation_alias="HUB_CARRIER_URL")
    carrier_app_key: str = Field("", validation_alias="HUB_CARRIER_APP_KEY")
    carrier_app_secret: str = Field("", validation_alias="HUB_CARRIER_APP_SECRET")
    carrier_session: str = Field("", validation_alias="HUB_CARRIER_SESSION")
    carrier_code: str = Field("ZTO", validation_alias="HUB_CARRIER_CODE")  # the carrier numbers are taken from
    carrier_timeout_seconds: PositiveFloat = Field(2.0, validation_alias="HUB_CARRIER_TIMEOUT_SECONDS")
    # the sender printed on the waybill: {"name", "mobile", "address": {"province", "city", "district", "detail"}}
    carrier_sender: dict = Field(default_factory=lambda: {"name": "warehouse", "mobile": "", "address": {
        "province": "", "city": "", "district": "", "detail": "warehouse"}}, validation_alias="HUB_CARRIER_SENDER")

    @field_validator("intake_low_watermark")
    @classmethod
    def _low_below_high(cls, low: int, info: ValidationInfo) -> int:
        high = info.data.get("intake_high_watermark")
        if high and low >= high:
            raise ValueError(f"must be below HUB_INTAKE_HIGH_WATERMARK ({high})")
        return low

    @property
    def merge_window(self) -> timedelta | None:
        """How far apart two orders may be placed to merge; None: merge is off."""
        return timedelta(minutes=self.merge_window_minutes) if self.merge and self.merge_window_minutes else None

    @property
    def review_first(self) -> bool:
        """Whether a new order is reviewed before it asks inventory to reserve."""
        return self.review_stage == "before_reservation"

    @property
    def intake_watermarks(self) -> Watermarks:
        return Watermarks(self.intake_high_watermark, self.intake_low_watermark,
                          self.intake_retry_after_max_seconds)
