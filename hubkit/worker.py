"""Entry point of a service's worker process: `python -m hubkit.worker <service>`.

eventlet must patch the standard library before anything else is imported, so this
module is always started as its own interpreter (also by `hub worker`)."""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()  # psycopg2 would otherwise block the eventlet hub

import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from nameko.constants import AMQP_URI_CONFIG_KEY, MAX_WORKERS_CONFIG_KEY, SERIALIZER_CONFIG_KEY  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from hubkit import logging as hublog  # noqa: E402
from hubkit import metrics, settings as hubsettings  # noqa: E402
from hubkit.consumer import HUB_CONFIG_KEY  # noqa: E402


def nameko_config(settings, service: str) -> dict:
    return {
        AMQP_URI_CONFIG_KEY: settings.amqp_uri,
        MAX_WORKERS_CONFIG_KEY: settings.worker_concurrency,
        SERIALIZER_CONFIG_KEY: "json",
        HUB_CONFIG_KEY: {
            "db_url": settings.db_url(service),
            "max_attempts": settings.consumer_max_attempts,
            "retry_base_seconds": settings.retry_base_seconds,
            "retry_max_seconds": settings.retry_max_seconds,
            "db_pool_size": settings.db_pool_size,
        },
    }


def main(argv=None):
    service = (argv or sys.argv[1:])[0]
    settings = hubsettings.load()
    hublog.setup(f"{service}-worker", settings.log_level)
    worker_cls = importlib.import_module(f"services.{service}.worker").Worker
    metrics.serve(settings.metrics_port)
    runner = ServiceRunner(nameko_config(settings, service))
    runner.add_service(worker_cls)
    stopping = eventlet.event.Event()

    def _stop(*_):
        if not stopping.ready():
            stopping.send(True)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    logging.getLogger(__name__).info("%s worker started", service)
    stopping.wait()
    runner.stop()


if __name__ == "__main__":
    main()
