"""notebooks/spamlab.ipynb executes headless against a database with the
reports dataset, and writes its figures as PNG files."""
import os
import pathlib

import nbclient
import nbformat

from conftest import TOP
from test_reports import reports  # noqa: F401  (the fixture)

FIGURES = {"volume_per_day", "origin_country", "domain_age", "replies",
           "message_size"}


def test_notebook_runs_and_draws(reports, pg, tmp_path):  # noqa: F811
    nb = nbformat.read(TOP / "notebooks" / "spamlab.ipynb", as_version=4)
    env = {"SPAMLAB_DSN": pg.dsn(reports.info.dbname),
           "SPAMLAB_FIGURES": str(tmp_path)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(TOP / "notebooks")}}
                                ).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    made = {p.stem for p in pathlib.Path(tmp_path).glob("*.png")}
    assert FIGURES <= made, f"missing figures: {FIGURES - made}"
    for p in tmp_path.glob("*.png"):
        assert p.stat().st_size > 5000, f"{p.name} looks empty"
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
