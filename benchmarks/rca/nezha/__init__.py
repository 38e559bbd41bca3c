"""Nezha Train-Ticket (FSE'23, IntelligentDDS/Nezha, MIT) as a development set for root-cause ranking.

Only the 28 cases of 2023-01-29 and that day's fault-free data are used; the 2023-01-30 cases are held
out for evaluation and must never be extracted, read or tuned on. Get the allowed part of the data with

    git clone --bare --filter=blob:none <Nezha repository> nezha.git
    mkdir nezha && git -C nezha.git archive HEAD rca_data/2023-01-29 construct_data/2023-01-29 \\
        | tar -x -C nezha

then ``python -m benchmarks.rca.nezha.run --data nezha``. Nothing derived from the data's rows is
committed: converted DuckDB files live in the git-ignored ``runs/nezha/``.
"""
