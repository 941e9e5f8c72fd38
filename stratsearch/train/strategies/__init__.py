"""Fine-tuning strategies, one registry per kind. Importing this package registers them all."""

from stratsearch.train.strategies.augmenters import AUGMENTERS
from stratsearch.train.strategies.heads import POOLINGS, HeadConfig
from stratsearch.train.strategies.losses import LOSSES
from stratsearch.train.strategies.optimizers import OPTIMIZERS
from stratsearch.train.strategies.penalties import PENALTIES
from stratsearch.train.strategies.registry import Chosen, StrategyConfig, StrategyRegistry
from stratsearch.train.strategies.schedules import SCHEDULES
from stratsearch.train.strategies.scope import SCOPES

# The space keys whose value picks one entry of a registry (a conditional choice in a search).
CHOICE_KINDS: dict[str, StrategyRegistry] = {
    "scope": SCOPES,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "penalty": PENALTIES,
    "loss": LOSSES,
    "augment": AUGMENTERS,
}

__all__ = ["CHOICE_KINDS", "POOLINGS", "Chosen", "HeadConfig", "StrategyConfig", "StrategyRegistry"]
