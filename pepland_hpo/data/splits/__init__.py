"""Train / validation / test partitions: the splits the project draws (random, stratified,
similarity), partitions given by a benchmark (a column, a JSON file, a hestia-good file read
without executing anything), and the one check every partition passes.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "carve_valid": "_check",
    "check_partition": "_check",
    "find_overlap": "_drawn",
    "fingerprints": "_drawn",
    "make_split": "_drawn",
    "make_splits": "_drawn",
    "Split": "_drawn",
    "OverlapReport": "_drawn",
    "partition_name": "_files",
    "read_partition_file": "_files",
    "GivenSplit": "_given",
    "load_given": "_given",
    "parse_reading": "_hestia",
    "load_plain_pickle": "_safe_pickle",
    "parts_text": "_summary",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
