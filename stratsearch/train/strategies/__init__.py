"""Fine-tuning strategies: one module per kind, each with its registry and its `KIND` (kinds.py).
Importing this package registers them all; the order of `KINDS` is the order the report writes
them in."""

from stratsearch.train.strategies import augmenters, consistency, losses, optimizers, penalties, schedules, scope
from stratsearch.train.strategies.heads import POOLINGS, HeadConfig
from stratsearch.train.strategies.kinds import Kind, KindRegistry, Step
from stratsearch.train.strategies.registry import Chosen, StrategyConfig, StrategyRegistry

# The space keys whose value picks one entry of a registry (a conditional choice in a search).
KINDS = KindRegistry("strategy kind")
for module in (optimizers, schedules, scope, losses, penalties, augmenters, consistency):
    KINDS.add(module.KIND)

__all__ = ["KINDS", "POOLINGS", "Chosen", "HeadConfig", "Kind", "Step", "StrategyConfig", "StrategyRegistry"]
