"""Ensembling a run's top-k trials from their saved predictions, and predicting with the result."""
