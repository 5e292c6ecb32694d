"""The one configuration every encoder variant is built from.

A variant is a named set of these switches (see :mod:`pepland_hpo.models.variants`);
there is exactly one encoder class, so a difference between two variants is a
difference in these fields and nothing else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Interval

from pepland_hpo.errors import UserInputError
from pepland_hpo.validation import check_fields, parse_fields

from pepland_hpo.data import ATOM_DIM, BOND_DIM, FP_SIZE, FRAG_DIM, PAIR_HOPS  # noqa: F401  (import-light)


@dataclass
class ModelConfig:
    # size: the default model (256 x 6, about 6 M parameters with hierarchical pooling)
    hidden_dim: Annotated[int, Gt(0)] = 256
    num_layers: Annotated[int, Gt(0)] = 6
    num_heads: Annotated[int, Gt(0)] = 8  # must divide hidden_dim (transformer layers)
    dropout: Annotated[float, Interval(ge=0.0, lt=1.0)] = 0.1
    ffn_multiplier: Annotated[int, Ge(1)] = 4
    # message passing / attention
    layer: Literal["gcn", "transformer"] = "gcn"
    attention: Literal["softmax", "favor", "auto"] = "softmax"
    # attention=auto: FAVOR+ for graphs larger than this; measured CPU crossover 287-297 atoms
    # (scripts/bench/attention_scaling.py, hidden 256, 8 heads)
    auto_crossover_atoms: Annotated[int, Ge(0)] = 300
    num_random_features: Annotated[int, Ge(0)] = 0  # FAVOR+ features m; 0 = d_head * ceil(ln d_head)
    redraw_interval: Annotated[int, Ge(1)] = 1000  # training steps between redraws of the random features
    # how exact-softmax attention applies the structure bias: "dense" builds [B, H, T, T]
    # for SDPA; "flex" evaluates it inside FlexAttention (models/flex_bias.py, no dense
    # bias; CUDA for training, CPU for inference only); "auto" = flex on CUDA, dense
    # elsewhere. Dense by default: on CPU flex cannot train, and GPU gains are unmeasured
    attention_backend: Literal["dense", "flex", "auto"] = "dense"
    # structure encodings (Graphormer)
    centrality: bool = False
    spatial: bool = False
    edge_encoding: bool = False
    max_degree: Annotated[int, Ge(1)] = 8  # degrees above are clamped into the last embedding
    max_distance: Annotated[int, Ge(1)] = 32  # spatial bias buckets 0..max_distance, farther pairs share the last bucket
    near_hops: Annotated[int, Interval(ge=1, le=PAIR_HOPS)] = 4  # pairs within this many hops get exact bias and path-edge encodings
    graph_token: bool = False
    # readout
    pooling: Literal["mean", "hierarchical"] = "mean"
    pool_seeds: Annotated[int, Ge(1)] = 4  # Set Transformer (PMA) seed vectors
    # a readout that can count: beside the pooled vector, the sum of the node states
    # divided by sum_scale (a constant, so a molecule's size and its residue counts
    # survive the readout; mean pooling alone maps 3 and 6 arginines to the same vector).
    # On by default: it raised GCN's c-CPP validation AUROC (docs/results/c-cpp/DIAGNOSIS.md)
    sum_readout: bool = True
    sum_scale: Annotated[float, Gt(0)] = 100.0
    head_layers: Annotated[int, Ge(1)] = 2  # same multi-layer prediction head for every variant
    # multi-view encoder (models/fragments.py): fragment nodes beside the atoms, exchanging
    # messages through the atom-fragment junctions after every `fragment_every` atom layers
    fragments: bool = False
    fragment_every: Annotated[int, Ge(1)] = 1
    fragment_max_distance: Annotated[int, Ge(1)] = 8  # fragment-graph hops with their own attention bias
    fragment_sum_scale: Annotated[float, Gt(0)] = 20.0  # the fragment sum readout's constant (~ residues per peptide)
    # fingerprint fusion: the molecule's Morgan count vector (log1p) into the prediction head
    fingerprint: bool = False
    # peptide-protein pairs (models/protein): the protein's encoder, one setting for every variant;
    # "none" is a one-molecule model (and the control of a binding study)
    protein_encoder: Literal["none", "composition", "cnn", "embeddings"] = "none"
    protein_filters: Annotated[int, Ge(1)] = 32  # cnn: filters of its first convolution (then 2x, 3x: DeepDTA)
    protein_kernel: Annotated[int, Ge(1)] = 8  # cnn: residues per convolution window (DeepDTA's best protein length)
    # training recipe that belongs to the encoder (the ablation's last switch)
    pretraining: Literal["none", "contrastive"] = "none"
    # io
    atom_dim: Annotated[int, Ge(1)] = ATOM_DIM
    bond_dim: Annotated[int, Ge(1)] = BOND_DIM
    out_dim: Annotated[int, Ge(1)] = 1
    protein_dim: Annotated[int, Ge(0)] = 0  # width of the protein input (composition / embedding), from the data

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        cfg = cls(**parse_fields(cls, values))  # unknown keys and bad values name the key
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Types and ranges as declared above (:func:`pepland_hpo.validation.check_fields`),
        then the rules that tie two fields together."""
        check_fields(self)
        if self.layer == "transformer" and self.hidden_dim % self.num_heads:
            raise UserInputError(
                f"hidden_dim={self.hidden_dim} is not divisible by num_heads={self.num_heads}"
            )
        if self.layer == "gcn" and (self.spatial or self.edge_encoding or self.graph_token):
            raise UserInputError(
                "spatial, edge_encoding and graph_token act on attention; they need layer=transformer"
            )
        if self.fragments and self.fragment_every > self.num_layers:
            raise UserInputError(
                f"fragment_every={self.fragment_every} exceeds num_layers={self.num_layers}: no exchange would run"
            )
