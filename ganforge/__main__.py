"""``python -m ganforge ...`` (what torchrun launches: ``torchrun -m ganforge train ...``)."""
from .cli import main

raise SystemExit(main())
