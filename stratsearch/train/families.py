"""Model families: one record per `model_type`, saying where a model's parts are and what its
config calls things, so that freezing, layer-wise decay, gradual unfreezing, BitFit, LoRA, the
frozen-prefix cache, drift, the cost count and the export work on any family the same way:
encoders (BERT to ModernBERT, ALBERT's shared layers) and decoders (GPT-2, Llama, Qwen2), which
are read at their last token.

In the spirit of peft's per-model tables (`TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`),
but one record holds every fact. Paths are attribute paths from the model `AutoModel` loads.
This module imports no torch: `validate` reads it.

To add a family: build a tiny random model of it (`AutoModel.from_config`), print
`model.named_children()` and its config's dropout keys, write its record below, and give it a tiny
model in `tests/conftest.py`: the checks of `tests/test_families.py` and `tests/test_prefix_cache.py`
(every trainable parameter in one optimizer group, freezing, LoRA, learning, drift, the prefix
cache, export) then run on it and say whether the record is right.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from stratsearch.registry import Registry


@dataclass(frozen=True)
class Family:
    name: str  # the config's model_type
    label: str  # how people write it: "DeBERTa-v3"
    layers: str  # the list of transformer layers, bottom first
    # The modules below are those a config of the family *may* build: which exist is the config's
    # business (DeBERTa's relative-position norm, ELECTRA's projection), so a path the model lacks
    # is skipped; a module the record misses is refused at validate (train/layout.py).
    # Modules below the first layer, frozen with the embeddings and trained at their rate:
    # embeddings first, then what the family keeps beside them (a projection, relative positions).
    inputs: tuple[str, ...] = ("embeddings",)
    # Of the inputs, those applied to the embeddings' output before the first layer: the
    # frozen-prefix cache stands in for them as it does for the embeddings.
    applied_after_embeddings: tuple[str, ...] = ()
    # Modules the encoder applies with its first layer (DeBERTa-v2's convolution): they train with
    # it, and the frozen-prefix cache leaves them out when it runs the layers above.
    with_first_layer: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # modules above the top layer (a final norm): they train with it
    hidden_dropout: tuple[str, ...] = ("hidden_dropout_prob",)  # config keys the space's `dropout` sets
    attention_dropout: tuple[str, ...] = ("attention_probs_dropout_prob",)
    pooler: bool = False  # the encoder builds a pooler unless told add_pooling_layer=False
    position_offset: int = 0  # position embeddings no token uses (RoBERTa counts from padding_idx + 1)
    depth_key: str = "num_hidden_layers"
    positions_key: str = "max_position_embeddings"
    # What freeze depth and layer-wise decay count: ALBERT's layers share weights, so they count its
    # groups of shared layers (one in the released models), never a single layer.
    layer_word: str = "layers"
    lora_targets: tuple[str, ...] = ("query", "value")
    # Decoder-only: each token sees only those before it, so a sequence is read at its last real
    # token (`pooling: auto`); it has no [CLS].
    causal: bool = False
    # Why the frozen-prefix cache cannot stand in for this family's bottom ("" = it can, exactly:
    # tests/test_prefix_cache.py checks every family that claims it).
    no_prefix_cache: str = ""
    token_head: str | None = "classifier"  # the Linear of its *ForTokenClassification, where that is one
    # The family's own *ForSequenceClassification head as (activation, its first Linear, its last
    # Linear) where it is an MLP over the CLS state as wide as the encoder: a stratsearch head of
    # that shape is exported as the stock class, with no custom code (export/hf.py).
    sequence_head: tuple[str, str, str] | None = None


FAMILIES: Registry[Family] = Registry("model family")
BERT = FAMILIES.add(
    Family("bert", "BERT", "encoder.layer", pooler=True, sequence_head=("tanh", "bert.pooler.dense", "classifier"))
)
ROBERTA_HEAD = ("tanh", "classifier.dense", "classifier.out_proj")
for name, label in (("roberta", "RoBERTa"), ("xlm-roberta", "XLM-R"), ("camembert", "CamemBERT")):
    FAMILIES.add(replace(BERT, name=name, label=label, position_offset=2, sequence_head=ROBERTA_HEAD))
FAMILIES.add(
    Family(
        "distilbert",
        "DistilBERT",
        "transformer.layer",
        hidden_dropout=("dropout",),
        attention_dropout=("attention_dropout",),
        depth_key="n_layers",
        lora_targets=("q_lin", "v_lin"),
        sequence_head=("relu", "pre_classifier", "classifier"),
    )
)
FAMILIES.add(
    Family(
        "deberta-v2",  # DeBERTa-v2 and -v3
        "DeBERTa-v2/v3",
        "encoder.layer",
        # The relative positions' table and its norm (relative_attention, norm_rel_ebd: layer_norm).
        inputs=("embeddings", "encoder.rel_embeddings", "encoder.LayerNorm"),
        with_first_layer=("encoder.conv",),  # conv_kernel_size > 0 (deberta-v2-xlarge and -xxlarge)
        lora_targets=("query_proj", "value_proj"),
        sequence_head=("gelu", "pooler.dense", "classifier"),  # its ContextPooler (pooler_hidden_act gelu)
    )
)
FAMILIES.add(
    Family(
        "electra",
        "ELECTRA",
        "encoder.layer",
        inputs=("embeddings", "embeddings_project"),  # embedding_size < hidden_size (the small ones)
        applied_after_embeddings=("embeddings_project",),
        sequence_head=("gelu", "classifier.dense", "classifier.out_proj"),
    )
)
FAMILIES.add(
    Family(
        "mpnet",
        "MPNet",
        "encoder.layer",
        inputs=("embeddings", "encoder.relative_attention_bias"),
        pooler=True,
        position_offset=2,
        lora_targets=("q", "v"),
        sequence_head=("tanh", "classifier.dense", "classifier.out_proj"),
    )
)


FAMILIES.add(
    Family(
        "modernbert",  # ModernBERT, and mmBERT and Ettin, which share its layout
        "ModernBERT",
        "layers",
        outputs=("final_norm",),
        hidden_dropout=("embedding_dropout", "mlp_dropout"),
        attention_dropout=("attention_dropout",),
        lora_targets=("Wqkv",),
        token_head=None,  # its tagger has a prediction head (dense, norm) below the classifier
    )
)
FAMILIES.add(
    Family(
        "albert",
        "ALBERT",
        "encoder.albert_layer_groups",
        inputs=("embeddings", "encoder.embedding_hidden_mapping_in"),
        pooler=True,
        depth_key="num_hidden_groups",
        layer_word="groups of shared layers",
        no_prefix_cache="its layers share weights, run in turn by the model's own loop",
        sequence_head=("tanh", "albert.pooler", "classifier"),
    )
)
FAMILIES.add(
    Family(
        "gpt2",
        "GPT-2",
        "h",
        inputs=("wte", "wpe"),
        outputs=("ln_f",),
        hidden_dropout=("resid_pdrop", "embd_pdrop"),
        attention_dropout=("attn_pdrop",),
        depth_key="n_layer",
        positions_key="n_positions",
        lora_targets=("c_attn",),
        causal=True,
        no_prefix_cache="it adds its position embeddings to the token embeddings inside its own forward",
    )
)
for name, label in (("llama", "Llama"), ("qwen2", "Qwen2")):
    FAMILIES.add(
        Family(
            name,
            label,
            "layers",
            inputs=("embed_tokens",),
            outputs=("norm",),
            hidden_dropout=(),  # none: their configs have attention dropout only
            attention_dropout=("attention_dropout",),
            lora_targets=("q_proj", "v_proj"),
            causal=True,
            token_head="score",
        )
    )


def family_of(model_type: object) -> Family | None:
    return FAMILIES.get(model_type)


def unknown_family(model_type: object) -> str:
    """What to say of a model whose family has no record."""
    known = ", ".join(f"{f.label} ({f.name})" for f in FAMILIES)
    return (
        f"model family '{model_type}' is not supported; known: {known}. To add one, write its record in"
        " stratsearch/train/families.py (where its layers, embeddings and dropout keys are) and run"
        " tests/test_families.py on it"
    )
