"""Export of trained tfnvp flows for TF Serving, and clients for its APIs.

`export.contract` names each signature's inputs and outputs, with their
dtypes and shapes; both sides read it.

The model side: `export.endpoints` turns a flow into the table of serving
endpoints, whose requests `export.graph_checks` checks in the graph;
`export.serving` writes them as a version folder; `export.export` is its
command line, `tfnvp-export`.

The client side: `export.flow_client.FlowClient` checks a call's inputs and
outputs (`export.client_checks`); `export.client.RestClient` (bodies in
`export.rest_format`) and `export.grpc_client.GrpcClient` carry it; failures
at the server are `export.errors.PredictError`s.
"""

__all__ = []
