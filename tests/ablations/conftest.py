"""The ablation tests reuse the tiny models of the MoSA and EchoMotion test packages."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for package in ("mosa_model", "mosa_pipeline", "echomotion"):
    if str(TESTS / package) not in sys.path:
        sys.path.append(str(TESTS / package))
