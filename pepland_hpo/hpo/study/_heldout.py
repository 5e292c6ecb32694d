"""The molecules a study scores models on, to keep them out of a pretraining corpus."""

from __future__ import annotations

from pepland_hpo.errors import UserInputError


def study_held_out(storage_url: str | None, study_name: str) -> set[str]:
    """Canonical SMILES of the study's validation and test rows (its stored split, its data file).

    The data must still be the file the study was created from (same content
    hash), otherwise the stored row indices would point at other molecules.
    """
    from pepland_hpo.hpo.study._spec import StudySpec, load_spec_data
    from pepland_hpo.hpo.queue import open_storage

    rdb = open_storage(storage_url, heartbeat=False)
    try:
        study_id = rdb.get_study_id_from_name(study_name)
    except KeyError:
        names = ", ".join(s.study_name for s in rdb.get_all_studies()) or "none"
        raise UserInputError(f"--study {study_name}: no such study (studies: {names})") from None
    attrs = rdb.get_study_user_attrs(study_id)
    if "spec" not in attrs or "split" not in attrs:
        raise UserInputError(f"--study {study_name}: not created by pepland-hpo (no stored spec and split)")
    spec = StudySpec.from_dict(attrs["spec"])
    dataset = load_spec_data(spec)
    if dataset.content_hash != attrs.get("data_hash"):
        raise UserInputError(f"{spec.data}: the file changed since study {study_name!r} was created; "
                             "its stored split no longer names the same molecules")
    split = attrs["split"]
    return {dataset.smiles[int(i)] for part in ("valid", "test") for i in split.get(part, [])}
