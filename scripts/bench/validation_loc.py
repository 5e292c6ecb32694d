"""Lines of hand-written validation code in a checkout of this project (one JSON line per part, then the total).

Usage: ``python scripts/bench/validation_loc.py [REPO_ROOT]`` (default: this checkout). Run it on an
older checkout to compare. Counted: the non-blank, non-comment, non-docstring lines of every
function/class below that exists in that checkout - the code that decides whether a key or value is
acceptable (key lists, type parsing, range checks, cross-field checks, error formatting). Not counted:
field declarations (a ``hidden_dim: Annotated[int, Gt(0)] = 256`` line exists with or without its
constraint), data-file checks (readers, splits), metric-name checks.
"""

from __future__ import annotations

import ast
import io
import json
import sys
import tokenize
from pathlib import Path

PARTS: dict[str, list[str]] = {
    # before: three places that check keys and types
    "pepland_hpo/hpo/spec.py": [
        "_where", "_check_keys", "spec_from_mapping", "check_structure", "check_variants", "check_settings",
        "_as_setting", "StudySpec.training_settings", "StudySpec.from_dict",
        # after: the checks a structure cannot make
        "check_faults", "check_buildable",
    ],
    # after: the schema's validators
    "pepland_hpo/hpo/schema.py": [
        "_Section._kind_alone", "SplitSpec._sums_to_one", "SplitSpec._dump", "StudySpec._shorthands",
        "StudySpec._variants", "StudySpec._seeds", "StudySpec._settings", "StudySpec._space",
        "StudySpec._together", "StudySpec.from_dict", "StudySpec.updated", "StudySpec.training_settings",
        "_known_keys",
    ],
    "pepland_hpo/training/run.py": [
        "_settable_fields", "_parse_value", "split_settings_overrides", "_model_bases", "_check_one",
        "ExperimentConfig.from_dict", "ExperimentConfig.validate", "ExperimentConfig.with_settings",
    ],
    "pepland_hpo/models/config.py": ["ModelConfig.from_dict", "ModelConfig.validate"],
    "pepland_hpo/training/config.py": ["TrainConfig.from_dict", "TrainConfig.validate",
                                       "applies_only_when_pretraining"],
    "pepland_hpo/models/variants.py": ["variant_model_config"],
    # after: the generic validator, the one settings parser, the space parser
    "pepland_hpo/validation.py": ["*"],
    "pepland_hpo/training/settings.py": ["*"],
    "pepland_hpo/hpo/space.py": ["_is_number", "_base_type", "parse_param", "parse_space", "infeasible_reason",
                                 "check_some_feasible"],
}


def _code_lines(source: str, first: int, last: int, skip: set[int]) -> int:
    """Lines first..last holding a token other than comments, newlines and docstrings."""
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                        tokenize.ENDMARKER):
            continue
        for line in range(tok.start[0], tok.end[0] + 1):
            if first <= line <= last and line not in skip:
                lines.add(line)
    return len(lines)


def _docstring_lines(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            out.update(range(body[0].lineno, body[0].end_lineno + 1))
    return out


def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = node
        if isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    found[f"{node.name}.{sub.name}"] = sub
    return found


def count(root: Path) -> list[dict]:
    rows = []
    for rel, names in PARTS.items():
        path = root / rel
        if not path.exists():
            continue
        source = path.read_text()
        tree = ast.parse(source)
        skip = _docstring_lines(tree)
        if names == ["*"]:
            n = _code_lines(source, 1, len(source.splitlines()), skip)
            rows.append({"metric": "validation_loc", "file": rel, "part": "*", "value": n})
            continue
        funcs = _functions(tree)
        for name in names:
            node = funcs.get(name)
            if node is None:
                continue
            # a decorator belongs to its function
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            n = _code_lines(source, first, node.end_lineno, skip)
            rows.append({"metric": "validation_loc", "file": rel, "part": name, "value": n})
    return rows


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
    rows = count(root)
    for row in rows:
        print(json.dumps(row))
    print(json.dumps({"metric": "validation_loc_total", "value": sum(r["value"] for r in rows), "root": str(root)}))


if __name__ == "__main__":
    main()
