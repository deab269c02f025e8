"""The k8s recipe library: plain typed Python that returns data; no CLI imports."""
