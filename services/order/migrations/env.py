from hubkit.migrations import run_env
from services.order.models import metadata

run_env(metadata)
