from edgewatch.cli import main

raise SystemExit(main())
