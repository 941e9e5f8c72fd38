"""The sweep: Optuna samplers under Ray Tune, with pruning, budgets and resume.

Knows nothing of losses or heads: a trial is a config dict handed to the trainer."""
