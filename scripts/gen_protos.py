"""The only way gRPC code is produced: generate hubapi/*_pb2*.py beside the .proto files."""
from __future__ import annotations

import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent / "protos"


def main() -> int:
    protos = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "hubapi").rglob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main(["protoc", f"-I{ROOT}", f"-I{include}", f"--python_out={ROOT}",
                        f"--pyi_out={ROOT}", f"--grpc_python_out={ROOT}", *protos])
    if code:
        print("protoc failed", file=sys.stderr)
        return code
    for folder in [ROOT / "hubapi", *(p for p in (ROOT / "hubapi").rglob("*") if p.is_dir())]:
        if folder.name != "__pycache__":
            (folder / "__init__.py").touch()
    print(f"generated gRPC code for {len(protos)} proto files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
