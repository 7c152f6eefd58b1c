from connectors.notify.store import metadata
from hubkit.migrations import run_env

run_env(metadata)
