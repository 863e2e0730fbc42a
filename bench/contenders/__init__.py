"""The three contenders, each run as `python -m bench.contenders.<name> --train F --test F --work DIR`.

Each writes DIR/labels.npy (test cluster labels) and DIR/result.json with `labels_done_epoch` (the
wall-clock moment the labels were on disk: the harness's wall time ends there) and `train_ssd`
(computed after that moment by `bench.clustering_math`, on the contender's own 50-d training
projections and its own centres).
"""
