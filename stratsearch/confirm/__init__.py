"""Confirmation over seeds: the top candidates of a search trained again with fresh seeds, raced,
and the winner chosen by its mean (`stats.py` the statistics, `plan.py` the candidates and their
seeds as the run directory records them; the sweep runs the rounds in `sweep/confirm.py`)."""
