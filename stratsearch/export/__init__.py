"""The chosen model out of stratsearch: a Hugging Face model directory with a model card."""
