"""fastmlp's benchmark suite (issue 9): ``python benchmarks/run.py --help``; see benchmarks/README.md."""
