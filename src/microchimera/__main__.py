"""Allow ``python -m microchimera``."""
from .cli import main

raise SystemExit(main())
