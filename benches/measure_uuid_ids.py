"""How many UUID request IDs `is_valid_correlation_id` refuses (issue 13 §1: request IDs that
are UUIDs are kept).

Run by hand (not part of the test suite; a million UUIDs take about half a minute)::

    .venv/bin/python benches/measure_uuid_ids.py            # 1,000,000 uuid4s
    .venv/bin/python benches/measure_uuid_ids.py 200000

Each uuid4 is checked hyphenated and as hex, both in lower and upper case, beside one ID of the
package's own generator (`new_correlation_id`); a refused one is printed with what masking made
of it (the masking rule that fired shows in what was replaced). Before the fix about 0.2% of
each form were refused: the card-number rule took a Luhn-valid run of 13 to 19 digits for a
card, the AWS key-ID rule an uppercase hex word starting with ``ACCA``.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter

from rfs_monitoring.context import is_valid_correlation_id, new_correlation_id
from rfs_monitoring.masking import mask_text


def main(count: int) -> int:
    refused: Counter[str] = Counter()
    shown = 0
    for _ in range(count):
        value = uuid.uuid4()
        text = str(value)
        forms = {
            "hyphenated": text,
            "hex": value.hex,
            "HYPHENATED": text.upper(),
            "HEX": value.hex.upper(),
            "generated": new_correlation_id(),
        }
        for form, cid in forms.items():
            if not is_valid_correlation_id(cid):
                refused[form] += 1
                if shown < 10:
                    shown += 1
                    print(f"refused {form}: {cid} -> {mask_text(cid)}")
    for form in ("hyphenated", "hex", "HYPHENATED", "HEX", "generated"):
        print(f"{form:>10}: {refused[form]} of {count} refused ({refused[form] / count:.4%})")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
