"""Entry point of a service's worker process: `python -m hub.worker <service>`.

eventlet must patch the standard library before anything else is imported, so this module is
always started as its own interpreter (also by `hub worker`)."""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()  # psycopg2 would otherwise block the eventlet hub

import sys  # noqa: E402

from hub import components  # noqa: E402
from hubkit import worker  # noqa: E402


def main(argv=None) -> None:
    service = (argv or sys.argv[1:])[0]
    worker.run(service, components.worker_class(service), components.load(service))


if __name__ == "__main__":
    main()
