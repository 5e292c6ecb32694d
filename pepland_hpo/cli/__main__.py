"""``python -m pepland_hpo.cli``: the same app as the ``pepland-hpo`` script."""

import os

os.environ.setdefault("PYTHONUNBUFFERED", "1")

from pepland_hpo.cli import main  # noqa: E402  (after the environment is set)

main()
