"""The customer service's settings: its database and its gRPC port, besides the common
settings of every process (hubkit.settings.HubSettings)."""
from __future__ import annotations

from pydantic import Field, SecretStr

from hubkit.settings import HubSettings, Port, sqlite_in_var_dir

DEV_PHONE_HASH_KEY = "hub-dev-phone-key"


class Settings(HubSettings):
    db_url: str = Field(default_factory=sqlite_in_var_dir("customer"), validation_alias="HUB_CUSTOMER_DB_URL")
    grpc_port: Port = Field(50054, validation_alias="HUB_CUSTOMER_GRPC_PORT")
    # the key of the phone hash (HMAC-SHA256) that finds one buyer across channels: set your own in
    # production; changing it makes earlier hashes unmatched until those buyers order again
    phone_hash_key: SecretStr = Field(SecretStr(DEV_PHONE_HASH_KEY), validation_alias="HUB_CUSTOMER_PHONE_HASH_KEY")
    # the books' receivable account (accounting's chart: 1122), whose customer lines are the exposure
    receivable_account: str = Field("1122", validation_alias="HUB_CUSTOMER_RECEIVABLE_ACCOUNT")
    # the window of a customer's return rate in their 360° view
    return_window_days: int = Field(30, ge=1, le=366, validation_alias="HUB_CUSTOMER_RETURN_WINDOW_DAYS")
