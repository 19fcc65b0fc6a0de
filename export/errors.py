"""The error of a client call that failed at or beyond the server.

A bad argument is the caller's: `ValueError` or `TypeError`, raised before
anything is sent. Everything else is a `PredictError` whose message names the
server as the client knows it (its URL or gRPC target), so that a message
read in a log says which server failed.

#### Examples

```python
try:
  client.sample(16)
except PredictError as err:   # "INVALID_ARGUMENT from localhost:8500: ..."
  print(err)
```
"""

__all__ = ["PredictError", "invalid_response_prefix"]


class PredictError(RuntimeError):
  """A call failed at or beyond the server: it refused the request, could
  not be reached, or answered with something that is not a valid response.
  The message names the server and, for a refusal, holds its message."""


def invalid_response_prefix(source, signature_name):
  """How a message about a response that does not answer the request starts.

  Args:
    source: the server, as messages name it (its URL or gRPC target).
    signature_name: the signature called.

  Returns:
    `"Invalid response from <source> for '<signature_name>':"`; the message
    goes on with what is wrong.
  """
  return f"Invalid response from {source} for {signature_name!r}:"
