"""The imports area's response models."""
from __future__ import annotations

from pydantic import Field

from gateway.common.schemas import Reply


class ImportProblem(Reply):
    row: int = Field(description="the row in the file (the header is row 1)")
    column: str
    code: str = Field(description="required, bad_number, too_many_decimals, bad_date, duplicate_in_file, "
                                  "duplicate_barcode, kit_component_missing, refused (the owning service's word), …")
    message: str


class ImportReport(Reply):
    kind: str
    dry_run: bool
    import_id: str = Field(description="the kind and the file's content hash: the same file again changes nothing")
    rows: int
    valid: bool
    rows_with_errors: int
    errors: list[ImportProblem]
    applied: int = Field(description="rows that changed something")
    unchanged: int = Field(description="rows already as the file says")
    replayed: bool = Field(description="this very file was imported before: nothing changed")
