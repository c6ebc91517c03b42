"""`python -m mnist_demo.personal finetune ...` (see command.py)."""

from mnist_demo.personal.command import main

raise SystemExit(main())
