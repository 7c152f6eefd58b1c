"""The hub's shared kernel: settings, database and unit of work, outbox and relay,
inbox, envelope, the event-contract base, broker topology, consumer entry points, metrics,
logging, money. It is handed the contracts (contracts/), and imports none of the hub's code."""
