from hubkit.migrations import run_env
from services.inventory.models import metadata

run_env(metadata)
