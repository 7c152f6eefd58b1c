from hubkit.migrations import run_env
from services.accounting.models import metadata

run_env(metadata)
