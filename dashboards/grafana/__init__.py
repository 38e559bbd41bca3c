"""The generated Grafana boards (``*.json``, written by dashboards/build.py; never edit them),
shipped in the wheel as ``infersight.dashboards`` so ``infersight dashboards preview`` finds
them after a pip install."""
