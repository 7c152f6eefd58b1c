"""The hub's shared kernel: settings, database and unit of work, outbox and relay,
inbox, envelope, broker topology, consumer entry point, metrics, logging, money."""
