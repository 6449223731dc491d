"""Running a script under callgrind with collection toggled on `functools.reduce`: what the
``measure_*_instructions`` and ``measure_stack_pieces`` scripts share.

The script runs each case inside one ``functools.reduce`` call; callgrind counts only inside
``functools_reduce`` (``--toggle-collect``) and dumps after each (``--dump-after``), so each
case's figure is the calling thread's instructions alone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def toggled_totals(script: str, minimum: int) -> list[int]:
    """Run ``script --child FOLDER`` under callgrind and return the instructions of each
    ``functools.reduce`` call it made, in order, leaving out those under ``minimum`` (imports
    call ``reduce`` too)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=functools_reduce",
                "--dump-after=functools_reduce",
                f"--callgrind-out-file={folder}/callgrind.out",
                sys.executable,
                script,
                "--child",
                folder,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        totals = []
        for dump in sorted(
            Path(folder).glob("callgrind.out.*"), key=lambda p: int(p.suffix.lstrip("."))
        ):
            match = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
            if match is not None and int(match.group(1)) > minimum:
                totals.append(int(match.group(1)))
    return totals
