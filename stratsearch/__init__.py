"""stratsearch: search fine-tuning strategies for a pretrained transformer on your own data."""

__version__ = "0.1.0"
