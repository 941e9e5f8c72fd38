"""One trial of training: the data, the model, the strategies and the one training loop.

Knows nothing of Ray or Optuna: a trial is a `TrialConfig` handed to `trainer.train`."""
