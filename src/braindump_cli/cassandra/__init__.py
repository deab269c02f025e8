"""The cassandra recipe library: plain typed Python that returns data; no CLI imports."""
