"""A model fine-tuned by stratsearch, as a plain `transformers` model: the pretrained encoder, then the
head stratsearch trained on it (linear or an MLP adaptation layer, over the CLS token, the mean of
the tokens or a decoder's last token, or over every token for tagging).

This file is copied beside the weights of an exported model and loaded by `transformers` itself
(`AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True)`, or
`pipeline("text-classification", model=path, trust_remote_code=True)`); it needs only torch and
transformers, never stratsearch. The config's model type is `stratsearch`, with the encoder's own
config inside it: transformers' stock classes do not know that type, so loading without this file
fails with transformers' message to pass `trust_remote_code=True`, instead of putting a freshly
initialised head of its own on the encoder. The head's layout is stratsearch's: Dropout, then for
an MLP Linear → activation → Dropout, then Linear.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}


class StratsearchConfig(PretrainedConfig):
    """The encoder's config (`encoder`, a dict with its own `model_type`), what building it takes
    (`encoder_kwargs`: no pooler where the family has one stratsearch never trains) and the head's
    (`stratsearch_head`: hidden, activation, pooling, dropout); labels as any config has them."""

    model_type = "stratsearch"

    def __init__(
        self,
        encoder: dict[str, Any] | None = None,
        encoder_kwargs: dict[str, Any] | None = None,
        stratsearch_head: dict[str, Any] | None = None,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.encoder = encoder or {}
        self.encoder_kwargs = encoder_kwargs or {}
        self.stratsearch_head = stratsearch_head or {}

    def encoder_config(self) -> PretrainedConfig:
        settings = dict(self.encoder)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)


def head_layers(in_dim: int, out_dim: int, hidden: int, activation: str, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    if hidden > 0:
        layers += [nn.Linear(in_dim, hidden), ACTIVATIONS[activation](), nn.Dropout(dropout)]
        in_dim = hidden
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class StratsearchPreTrainedModel(PreTrainedModel):
    config_class = StratsearchConfig
    base_model_prefix = "encoder"

    def __init__(self, config: StratsearchConfig):
        super().__init__(config)
        head = config.stratsearch_head
        encoder = config.encoder_config()
        self.encoder = AutoModel.from_config(encoder, **config.encoder_kwargs)
        self.head = head_layers(
            encoder.hidden_size, config.num_labels, head["hidden"], head["activation"], head["dropout"]
        )
        self.pooling = head["pooling"]
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Every weight comes from the checkpoint; nothing to initialise."""

    def hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, token_type_ids: torch.Tensor | None
    ) -> torch.Tensor:
        segments = {} if token_type_ids is None else {"token_type_ids": token_type_ids}  # a sentence pair's
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, **segments).last_hidden_state


class StratsearchForSequenceClassification(StratsearchPreTrainedModel):
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **unused: object,
    ) -> SequenceClassifierOutput:
        hidden = self.hidden_states(input_ids, attention_mask, token_type_ids)
        if self.pooling == "mean":
            mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).unsqueeze(-1)
            mask = mask.to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        elif self.pooling == "last":  # a decoder's last real token, padding on either side skipped
            mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
            last = (torch.arange(mask.shape[1], device=mask.device) * mask).argmax(-1)
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        else:
            pooled = hidden[:, 0]
        return SequenceClassifierOutput(logits=self.head(pooled))


class StratsearchForTokenClassification(StratsearchPreTrainedModel):
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **unused: object,
    ) -> TokenClassifierOutput:
        return TokenClassifierOutput(logits=self.head(self.hidden_states(input_ids, attention_mask, token_type_ids)))
