"""Fine-tuning strategies, one registry per kind. Importing this package registers them all."""

from .augmenters import AUGMENTERS
from .heads import POOLINGS, HeadConfig
from .losses import LOSSES
from .optimizers import OPTIMIZERS
from .penalties import PENALTIES
from .registry import Chosen, Registry, StrategyConfig
from .schedules import SCHEDULES
from .scope import SCOPES

# The space keys whose value picks one entry of a registry (a conditional choice in a search).
CHOICE_KINDS: dict[str, Registry] = {
    "scope": SCOPES,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "penalty": PENALTIES,
    "loss": LOSSES,
    "augment": AUGMENTERS,
}

__all__ = ["CHOICE_KINDS", "POOLINGS", "Chosen", "HeadConfig", "Registry", "StrategyConfig"]
