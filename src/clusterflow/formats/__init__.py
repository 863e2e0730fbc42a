"""Streaming readers and writers of the data formats (import the submodule you need).

- `libsvm`: strict libsvm (Spark's rules), vectorised; `iter_libsvm`, `read_libsvm`, `write_libsvm`,
  `inspect_libsvm`, `line_defect`.
- `recordio`: RecordIO-protobuf `aialgs.data.Record` (schema `aialgs_data.proto`, generated
  `aialgs_data_pb2`); framing, dense/sparse decoding, training batches, hosting label records.
- `instances`: hosting request bodies (CSV, JSON, JSON Lines, RecordIO) and `text/csv;label_size=N` channels.
"""
