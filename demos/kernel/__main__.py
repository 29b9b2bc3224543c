"""``python -m demos.kernel``."""

from demos.kernel.demo import main

raise SystemExit(main())
