"""`bd crd`: the shipped Database CRD and the recipes around CRDs, one module per command.

* `show.py` (`bd crd show`), `install.py`, `check.py`, `status.py`, `uninstall.py`: one verb each,
  plain typed functions returning frozen dataclasses; the CLI renders them.
* `shipped.py`: the Database CRD shipped with bd (`database_crd()`, reused by the operator's manifests).
* `manifests.py`: reading multi-document YAML into documents (and problems).
* `resolve.py`: what a CRD defines (`CrdInfo`) and which CRD and version a document belongs to.
* `_cluster.py`: the CRD API paths and conditions shared by the verbs that talk to a cluster.
"""
