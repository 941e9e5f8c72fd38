"""How much a trial's drift moves with the size of the probe it is measured on.

    python bench/probe_size.py      # after bench/cost_drift.py, which saves its best trial's model

The best trial of bench/cost_drift.py's sweep (its saved model) and the pretrained encoder, on
1,024 training texts drawn once; then drift (1 − top-layer linear CKA) on five random draws of
128, 256, 512 and all 1,024 of them: the mean shows the plain estimator's bias on few texts, the
spread what the draw adds. A run measures every trial on one draw of 256 (train/drift.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from stratsearch.prepare import model_and_data
from stratsearch.rows import subset
from stratsearch.rundir import RunDir
from stratsearch.space.load import load_space
from stratsearch.train.artifacts import has_model, load_model
from stratsearch.train.drift import linear_cka, pooled_states
from stratsearch.train.model import load_backbone

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "results" / "cost_drift"
TEXTS, DRAWS = 1024, 5


def main() -> None:
    torch.set_num_threads(2)
    run_dir = RunDir(RUN / "runs" / "cost-drift")
    best = next(r for r in run_dir.trials() if has_model(r.folder))
    _, data = model_and_data(load_space(RUN / "space.yaml"))
    texts = subset(data.train, np.sort(np.random.default_rng(9).choice(len(data.train), TEXTS, replace=False)))
    tuned = pooled_states(load_model(best.folder)[0].backbone, texts, data.pad_id)[-1]
    pretrained = pooled_states(load_backbone(run_dir.info().model_path, 0.0, 0.0), texts, data.pad_id)[-1]
    print(f"trial {best.number}: drift by probe size, {DRAWS} draws each")
    for n in (128, 256, 512, TEXTS):
        drifts = []
        for seed in range(DRAWS):
            pick = torch.from_numpy(np.random.default_rng(seed).choice(TEXTS, n, replace=False))
            drifts.append(1 - linear_cka(tuned[pick], pretrained[pick]))
        print(f"{n:5d} texts: {np.mean(drifts):.3f} ± {np.std(drifts):.3f}")


if __name__ == "__main__":
    main()
