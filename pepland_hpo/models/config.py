"""The one configuration every encoder variant is built from.

A variant is a named set of these switches (see :mod:`pepland_hpo.models.variants`);
there is exactly one encoder class, so a difference between two variants is a
difference in these fields and nothing else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from pepland_hpo.errors import UserInputError

ATOM_DIM = 38
BOND_DIM = 14
# Hops stored per near pair by the featuriser (data.featurize.PAIR_HOPS); kept here
# so that validating a config does not import the data layer.
PAIR_HOPS = 5
# Fragment features and fingerprint length (data.fragments.FRAG_DIM / FP_SIZE), for the same reason.
FRAG_DIM = 57
FP_SIZE = 2048


@dataclass
class ModelConfig:
    # size (the training plan's default)
    hidden_dim: int = 256
    num_layers: int = 6
    num_heads: int = 8
    dropout: float = 0.1
    ffn_multiplier: int = 4
    # message passing / attention
    layer: Literal["gcn", "transformer"] = "gcn"
    attention: Literal["softmax", "favor", "auto"] = "softmax"
    # attention=auto: FAVOR+ for graphs larger than this; measured CPU crossover 287-297 atoms
    # (scripts/bench/attention_scaling.py, hidden 256, 8 heads)
    auto_crossover_atoms: int = 300
    num_random_features: int = 0  # FAVOR+ features m; 0 = d_head * ceil(ln d_head)
    redraw_interval: int = 1000  # training steps between redraws of the random features
    # how exact-softmax attention applies the structure bias: "dense" builds [B, H, T, T]
    # for SDPA; "flex" evaluates it inside FlexAttention (models/flex_bias.py, no dense
    # bias; CUDA for training, CPU for inference only); "auto" = flex on CUDA, dense
    # elsewhere. Dense by default: on CPU flex cannot train, and GPU gains are unmeasured
    attention_backend: Literal["dense", "flex", "auto"] = "dense"
    # structure encodings (Graphormer)
    centrality: bool = False
    spatial: bool = False
    edge_encoding: bool = False
    max_degree: int = 8  # degrees above are clamped into the last embedding
    max_distance: int = 32  # spatial bias buckets 0..max_distance, farther pairs share the last bucket
    near_hops: int = 4  # pairs within this many hops get exact bias and path-edge encodings
    graph_token: bool = False
    # readout
    pooling: Literal["mean", "hierarchical"] = "mean"
    pool_seeds: int = 4  # Set Transformer (PMA) seed vectors
    # a readout that can count: beside the pooled vector, the sum of the node states
    # divided by sum_scale (a constant, so a molecule's size and its residue counts
    # survive the readout; mean pooling alone maps 3 and 6 arginines to the same vector).
    # On by default: it raised GCN's c-CPP validation AUROC (docs/results/c-cpp/DIAGNOSIS.md)
    sum_readout: bool = True
    sum_scale: float = 100.0
    head_layers: int = 2  # same multi-layer prediction head for every variant
    # multi-view encoder (models/fragments.py): fragment nodes beside the atoms, exchanging
    # messages through the atom-fragment junctions after every `fragment_every` atom layers
    fragments: bool = False
    fragment_every: int = 1
    fragment_max_distance: int = 8  # fragment-graph hops with their own attention bias
    fragment_sum_scale: float = 20.0  # the fragment sum readout's constant (~ residues per peptide)
    # fingerprint fusion: the molecule's Morgan count vector (log1p) into the prediction head
    fingerprint: bool = False
    # training recipe that belongs to the encoder (the ablation's last switch)
    pretraining: Literal["none", "contrastive"] = "none"
    # io
    atom_dim: int = ATOM_DIM
    bond_dim: int = BOND_DIM
    out_dim: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserInputError(f"unknown model setting(s): {', '.join(unknown)}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.hidden_dim <= 0 or self.num_layers <= 0 or self.num_heads <= 0:
            raise UserInputError("hidden_dim, num_layers and num_heads must be positive")
        if self.layer == "transformer" and self.hidden_dim % self.num_heads:
            raise UserInputError(
                f"hidden_dim={self.hidden_dim} is not divisible by num_heads={self.num_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise UserInputError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.layer not in ("gcn", "transformer"):
            raise UserInputError(f"layer must be gcn or transformer, got {self.layer!r}")
        if self.attention not in ("softmax", "favor", "auto"):
            raise UserInputError(f"attention must be softmax, favor or auto, got {self.attention!r}")
        if self.attention_backend not in ("dense", "flex", "auto"):
            raise UserInputError(
                f"attention_backend must be dense, flex or auto, got {self.attention_backend!r}"
            )
        if self.pooling not in ("mean", "hierarchical"):
            raise UserInputError(f"pooling must be mean or hierarchical, got {self.pooling!r}")
        if self.pretraining not in ("none", "contrastive"):
            raise UserInputError(f"pretraining must be none or contrastive, got {self.pretraining!r}")
        if self.layer == "gcn" and (self.spatial or self.edge_encoding or self.graph_token):
            raise UserInputError(
                "spatial, edge_encoding and graph_token act on attention; they need layer=transformer"
            )
        if self.max_degree < 1 or self.max_distance < 1:
            raise UserInputError("max_degree and max_distance must be at least 1")
        if not 1 <= self.near_hops <= PAIR_HOPS:
            raise UserInputError(
                f"near_hops must be in 1..{PAIR_HOPS} (hops stored per pair), got {self.near_hops}"
            )
        if self.num_random_features < 0 or self.redraw_interval < 1:
            raise UserInputError("num_random_features must be >= 0 and redraw_interval >= 1")
        if self.fragment_every < 1 or self.fragment_max_distance < 1 or not self.fragment_sum_scale > 0:
            raise UserInputError("fragment_every and fragment_max_distance must be >= 1, fragment_sum_scale > 0")
        if self.fragments and self.fragment_every > self.num_layers:
            raise UserInputError(
                f"fragment_every={self.fragment_every} exceeds num_layers={self.num_layers}: no exchange would run"
            )
        if not self.sum_scale > 0:
            raise UserInputError(f"sum_scale must be positive, got {self.sum_scale}")
        if self.head_layers < 1 or self.pool_seeds < 1 or self.ffn_multiplier < 1:
            raise UserInputError("head_layers, pool_seeds and ffn_multiplier must be at least 1")
