"""stratsearch: search fine-tuning strategies for a pretrained transformer on your own data."""

import os

# Nothing is ever downloaded: models are local directories, data are local files. Set before
# huggingface_hub is first imported, which reads it once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

__version__ = "0.1.0"
