"""Export of trained tfnvp flows for TF Serving, and clients for its APIs.

`export.serving` writes the SavedModel, `export.export` is its command line,
`export.client` calls a served model over REST or gRPC and
`export.contract` names each signature's inputs and outputs.
"""
