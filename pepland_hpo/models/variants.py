"""Named ablation variants: presets of :class:`ModelConfig` switches, never separate classes.

| variant | layers | attention | centrality/spatial/edge/token | pooling | pretraining |
| --- | --- | --- | --- | --- | --- |
| gcn | GCN | – | no | mean | none |
| graphormer | transformer | softmax | yes | mean | none |
| performer | transformer | FAVOR+ (structure-aware) | yes | mean | none |
| hierpool | transformer | FAVOR+ | yes | hierarchical | none |
| fragments | as hierpool, plus the fragment view (multi-view encoder) | | | | none |
| full | as fragments | | | | contrastive |

``fusion`` (fragments + the Morgan count fingerprint in the head) is a named variant
outside the ablation chain.

``leave_one_out_variants()`` turns off one component of ``full`` at a time; those names
(``full-minus-X``) are accepted by :func:`variant_model_config` as well.
"""

from __future__ import annotations

from typing import Any

from pepland_hpo.errors import UserInputError
from pepland_hpo.models.config import ModelConfig

_STRUCTURE = {"layer": "transformer", "centrality": True, "spatial": True, "edge_encoding": True, "graph_token": True}

_PRESETS: dict[str, dict[str, Any]] = {
    "gcn": {"layer": "gcn"},
    "graphormer": {**_STRUCTURE, "attention": "softmax"},
    "performer": {**_STRUCTURE, "attention": "favor"},
    "hierpool": {**_STRUCTURE, "attention": "favor", "pooling": "hierarchical"},
    "fragments": {**_STRUCTURE, "attention": "favor", "pooling": "hierarchical", "fragments": True},
    "full": {**_STRUCTURE, "attention": "favor", "pooling": "hierarchical", "fragments": True,
             "pretraining": "contrastive"},
}

# Not a step of the ablation: the best graph encoder without pretraining plus the molecule's
# Morgan counts in the head. Its own name, never part of `full`, so a report shows what
# the graph adds to the fingerprint (compare with the reference row).
_EXTRA: dict[str, dict[str, Any]] = {
    "fusion": {**_PRESETS["fragments"], "fingerprint": True},
}

VARIANTS: tuple[str, ...] = tuple(_PRESETS)  # the ablation's steps, in order

# one component of `full` off at a time (overrides applied on top of `full`)
_LEAVE_ONE_OUT: dict[str, dict[str, Any]] = {
    "full-minus-pretraining": {"pretraining": "none"},
    "full-minus-hierpool": {"pooling": "mean"},
    "full-minus-fragments": {"fragments": False},
    "full-minus-favor": {"attention": "softmax"},
    "full-minus-centrality": {"centrality": False},
    "full-minus-spatial": {"spatial": False},
    "full-minus-edge": {"edge_encoding": False},
    "full-minus-token": {"graph_token": False},
}


def leave_one_out_variants() -> dict[str, dict[str, Any]]:
    """``{"full-minus-X": overrides of full's config}``, one component removed each."""
    return {name: dict(over) for name, over in _LEAVE_ONE_OUT.items()}


def known_variants() -> list[str]:
    return list(VARIANTS) + list(_EXTRA) + list(_LEAVE_ONE_OUT)


def _preset(name: str) -> dict[str, Any]:
    if name in _PRESETS:
        return dict(_PRESETS[name])
    if name in _EXTRA:
        return dict(_EXTRA[name])
    if name in _LEAVE_ONE_OUT:
        return {**_PRESETS["full"], **_LEAVE_ONE_OUT[name]}
    raise UserInputError(f"unknown variant {name!r}; known variants: {', '.join(known_variants())}")


def variant_model_config(name: str, **overrides: Any) -> ModelConfig:
    """The config of variant ``name`` with ``overrides`` (e.g. ``hidden_dim=128``) applied."""
    return ModelConfig.from_dict({**_preset(name), **overrides})  # an unknown or bad key is named


def variant_needs_pretraining(name: str) -> bool:
    """True when the variant's recipe starts with contrastive pretraining (``full``)."""
    return _preset(name).get("pretraining", "none") != "none"
