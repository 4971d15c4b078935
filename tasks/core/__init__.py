"""Pure algorithms the stages share or that outgrow one file: no Prefect, no run state, never a stage import.

Each module states its contract (dtypes, shapes, the noise label) in its docstring and handles the
degenerate cases (n = 0, n = 1, all-identical, sizes larger than n) explicitly.
"""
