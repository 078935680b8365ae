"""etc/lbaas.conf.sample is what oslo-config-generator makes of the options today."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]


def test_sample_config_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    generator = Path(sys.executable).parent / "oslo-config-generator"
    subprocess.run([str(generator), "--namespace", "lbaas", "--output-file", str(out)],
                   check=True)
    assert out.read_text() == (REPO / "etc" / "lbaas.conf.sample").read_text(), \
        "options changed: run `make sample-config` and commit etc/lbaas.conf.sample"
