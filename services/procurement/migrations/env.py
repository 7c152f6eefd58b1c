from hubkit.migrations import run_env
from services.procurement.models import metadata

run_env(metadata)
